//! The certificate (`7F21`), its BER-TLV, and the small text parsers around it (serials,
//! dates, issuer public keys) that read operator input.
//!
//! Invariants checked:
//! * a certificate that parses encodes back to exactly the input (the signed bytes are
//!   unambiguous), and parses again to the same value;
//! * one that verifies under the test issuer really carries that issuer's signature over its
//!   body; re-signing its body gives a certificate that verifies;
//! * the text parsers give back what they read.

use crate::class;
use crate::fixtures;
use cardgate_card::cert::{parse_date, parse_iso_date, CardSerial, Certificate};
use cardgate_card::tlv;
use cardgate_card::IssuerPublicKey;

/// Tokens for mutators: the certificate's tags and length forms.
pub const DICTIONARY: &[&[u8]] = &[
    b"\x7F\x21",
    b"\x7F\x21\x81",
    b"\x7F\x21\x82\x00",
    b"\x5A\x08",
    b"\x5F\x20",
    b"\x5F\x4C\x01",
    b"\x5F\x25\x08",
    b"\x5F\x24\x08",
    b"\x42\x08",
    b"\x7F\x49\x43\x86\x41\x04",
    b"\x5F\x37\x40",
    b"\x81",
    b"\x82",
    b"\x83",
    b"\x80",
    b"20260229",
    b"99991231",
    b"00000101",
];

fn text_parsers(data: &[u8]) -> u64 {
    let Ok(text) = std::str::from_utf8(data) else {
        return 0;
    };
    let mut c = 0;
    if let Some(serial) = CardSerial::from_hex(text) {
        assert_eq!(
            serial.to_string(),
            text.trim().to_ascii_uppercase(),
            "serial does not round-trip"
        );
        c |= 1;
    }
    if let Some(d) = parse_iso_date(text) {
        assert_eq!(
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
            text,
            "date does not round-trip"
        );
        c |= 2;
    }
    if let Ok(key) = IssuerPublicKey::from_hex(text) {
        assert_eq!(
            key.to_hex(),
            text.trim().to_ascii_lowercase(),
            "issuer key does not round-trip"
        );
        c |= 4;
    }
    c
}

/// Runs one input; returns its outcome class.
pub fn run(data: &[u8]) -> u64 {
    let _ = tlv::parse_exact(data, &[0x6F]);
    let _ = parse_date(data);
    let texts = text_parsers(data);
    let parsed = match Certificate::parse(data) {
        Ok(cert) => cert,
        Err(e) => return class::mix(&[texts, class::of_debug(&format!("{e:?}"))]),
    };
    assert_eq!(
        parsed.encode(),
        data,
        "a parsed certificate does not encode back to its input"
    );
    assert_eq!(
        Certificate::parse(&parsed.encode()).ok().as_ref(),
        Some(&parsed),
        "re-parsing a certificate changed it"
    );
    let issuer = fixtures::issuer();
    let verified = parsed.verify_issuer(&issuer.public_key()).is_ok();
    if verified {
        assert!(
            issuer
                .public_key()
                .verify(&parsed.body.encode(), &parsed.signature),
            "verify_issuer accepted a signature the key did not make"
        );
    }
    let resigned = parsed
        .body
        .clone()
        .sign(issuer)
        .unwrap_or_else(|e| panic!("a parsed body could not be signed: {e}"));
    assert!(
        resigned.verify_issuer(&issuer.public_key()).is_ok(),
        "a freshly signed certificate does not verify"
    );
    assert_eq!(
        Certificate::parse(&resigned.encode()).ok().as_ref(),
        Some(&resigned),
        "a freshly signed certificate does not parse back"
    );
    class::mix(&[texts, 1 + u64::from(verified)])
}
