//! Card images for the virtual cards, written into a lab's work directory.

use crate::{HarnessError, PcscLab};
use cardgate_card::issue::IssueRequest;
use cardgate_card::{CardSerial, IssuerKey, Pin, Puk, Role};
use cardgate_sim::CardImage;
use std::path::{Path, PathBuf};

/// A fresh issuer key for a test.
pub fn issuer_key() -> Result<IssuerKey, HarnessError> {
    IssuerKey::generate().map_err(HarnessError::IssuerKey)
}

/// A software card image on disk, ready for `cardgate-sim serve --card`.
#[derive(Clone)]
pub struct SoftCardFile {
    path: PathBuf,
    image: CardImage,
}

impl std::fmt::Debug for SoftCardFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftCardFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SoftCardFile {
    /// Writes `image` into the lab's work directory under `name`.
    pub fn from_image(lab: &PcscLab, name: &str, image: CardImage) -> Result<Self, HarnessError> {
        let path = lab.work_dir().join(format!("{name}.card"));
        image.save(&path).map_err(|source| HarnessError::Image {
            path: path.clone(),
            source,
        })?;
        Ok(SoftCardFile { path, image })
    }

    /// A blank card, as it comes from the factory with its transport `puk`, under `name`.
    pub fn blank(lab: &PcscLab, name: &str, puk: &str) -> Result<Self, HarnessError> {
        let puk = Puk::parse(puk).map_err(|_| HarnessError::BadSecret("PUK"))?;
        Self::from_image(lab, name, CardImage::blank(&puk))
    }

    /// Issues a card for `operator` (role operator, valid 2020–2099, serial from the
    /// operator's name) with `issuer`, through the real issuance flow.
    pub fn personalised(
        lab: &PcscLab,
        issuer: &IssuerKey,
        operator: &str,
        pin: &str,
        puk: &str,
    ) -> Result<Self, HarnessError> {
        let pin = Pin::parse(pin).map_err(|_| HarnessError::BadSecret("PIN"))?;
        let puk = Puk::parse(puk).map_err(|_| HarnessError::BadSecret("PUK"))?;
        let mut serial = [0u8; 8];
        for (i, b) in operator.bytes().enumerate() {
            serial[i % 8] ^= b;
        }
        let request = IssueRequest {
            serial: CardSerial(serial),
            operator_id: operator.to_owned(),
            role: Role::Operator,
            valid_from: time::macros::date!(2020 - 01 - 01),
            valid_until: time::macros::date!(2099 - 12 - 31),
        };
        let image = cardgate_sim::create_card(issuer, &puk, &pin, &request)
            .map_err(HarnessError::CreateCard)?;
        Self::from_image(lab, operator, image)
    }

    /// The image file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The image as written.
    pub fn image(&self) -> &CardImage {
        &self.image
    }
}
