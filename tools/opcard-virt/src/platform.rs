// SPDX-License-Identifier: LGPL-3.0-only
//! opcard's trussed service: trussed's virtual platform with the OS's randomness, a
//! file-backed store, and the backends opcard's `Client` needs (trussed-auth for the PINs,
//! trussed-staging for wrap-key-to-file and chunked files).

use rand_core::OsRng;
use std::path::Path;
use std::sync::mpsc;
use trussed::backend::{Backend as _, BackendId};
use trussed::pipe::ServiceEndpoint;
use trussed::pipe::TrussedChannel;
use trussed::platform;
use trussed::serde_extensions::{ExtensionDispatch, ExtensionId, ExtensionImpl};
use trussed::service::Service;
use trussed::service::ServiceResources;
use trussed::types::Context;
use trussed::types::CoreContext;
use trussed::virt::{StorageConfig, Store, StoreConfig, UserInterface};
use trussed::ClientImplementation;
use trussed_auth::AuthExtension;
use trussed_auth_backend::{AuthBackend, AuthContext, FilesystemLayout};
use trussed_chunked::ChunkedExtension;
use trussed_core::api::{reply, request, Reply, Request};
use trussed_core::types::Location;
use trussed_core::Error;
use trussed_staging::{StagingBackend, StagingContext};
use trussed_wrap_key_to_file::WrapKeyToFileExtension;

/// The trussed client opcard runs on.
pub type OpcardClient<'a> = ClientImplementation<'a, Wake, Backends>;

/// The client's syscall: wakes the service thread at once. trussed's own virtual runner
/// polls for syscalls every millisecond, and opcard makes dozens of trussed calls per APDU
/// (every file it reads is one), so one login cost the virtual card about 850 ms, nearly all
/// of it asleep; a real card takes a fraction of that. What the card does is unchanged.
#[derive(Clone)]
pub struct Wake(mpsc::Sender<()>);

impl platform::Syscall for Wake {
    fn syscall(&mut self) {
        // The service thread lives as long as the client (see `with_client`): a closed
        // channel would leave the client waiting for a reply forever, so it is a bug.
        if self.0.send(()).is_err() {
            panic!("the trussed service thread ended before the card");
        }
    }
}

/// The client id opcard's files live under in the store.
const CLIENT_ID: &str = "opcard";

/// trussed's `virt::Platform` seeds its generator with a constant: two cards made from it
/// would generate the same keys, and a test that a copied card is refused would pass for
/// the wrong reason. This platform draws from the OS instead (trussed mixes that into the
/// DRBG state it keeps in the internal store).
struct OsPlatform<'a> {
    rng: OsRng,
    store: Store<'a>,
    ui: UserInterface,
}

impl<'a> platform::Platform for OsPlatform<'a> {
    type R = OsRng;
    type S = Store<'a>;
    type UI = UserInterface;

    fn rng(&mut self) -> &mut OsRng {
        &mut self.rng
    }

    fn store(&self) -> Store<'a> {
        self.store
    }

    fn user_interface(&mut self) -> &mut UserInterface {
        &mut self.ui
    }
}

/// The custom backends, in the order trussed asks them before its core.
#[derive(Debug, Clone, Copy)]
pub enum BackendKind {
    /// trussed-staging (wrap-key-to-file, chunked).
    Staging,
    /// trussed-auth (PINs and their retry counters).
    Auth,
}

/// The extensions opcard's client calls.
#[derive(Debug, Clone, Copy)]
pub enum ExtensionKind {
    /// trussed-auth.
    Auth,
    /// wrap a key to a file.
    WrapKeyToFile,
    /// chunked reads and writes of large files.
    Chunked,
}

impl From<ExtensionKind> for u8 {
    fn from(kind: ExtensionKind) -> u8 {
        match kind {
            ExtensionKind::Auth => 0,
            ExtensionKind::WrapKeyToFile => 1,
            ExtensionKind::Chunked => 2,
        }
    }
}

impl TryFrom<u8> for ExtensionKind {
    type Error = Error;

    fn try_from(id: u8) -> Result<Self, Error> {
        match id {
            0 => Ok(ExtensionKind::Auth),
            1 => Ok(ExtensionKind::WrapKeyToFile),
            2 => Ok(ExtensionKind::Chunked),
            _ => Err(Error::RequestNotAvailable),
        }
    }
}

const BACKENDS: &[BackendId<BackendKind>] = &[
    BackendId::Custom(BackendKind::Staging),
    BackendId::Custom(BackendKind::Auth),
    BackendId::Core,
];

/// The dispatch of opcard's requests to the backends above.
#[derive(Debug)]
pub struct Backends {
    auth: AuthBackend,
    staging: StagingBackend,
}

/// Per-client state of the backends.
#[derive(Default)]
pub struct BackendContexts {
    auth: AuthContext,
    staging: StagingContext,
}

impl ExtensionDispatch for Backends {
    type BackendId = BackendKind;
    type Context = BackendContexts;
    type ExtensionId = ExtensionKind;

    fn core_request<P: platform::Platform>(
        &mut self,
        backend: &BackendKind,
        ctx: &mut Context<BackendContexts>,
        request: &Request,
        resources: &mut ServiceResources<P>,
    ) -> Result<Reply, Error> {
        match backend {
            BackendKind::Auth => {
                self.auth
                    .request(&mut ctx.core, &mut ctx.backends.auth, request, resources)
            }
            BackendKind::Staging => {
                self.staging
                    .request(&mut ctx.core, &mut ctx.backends.staging, request, resources)
            }
        }
    }

    fn extension_request<P: platform::Platform>(
        &mut self,
        backend: &BackendKind,
        extension: &ExtensionKind,
        ctx: &mut Context<BackendContexts>,
        request: &request::SerdeExtension,
        resources: &mut ServiceResources<P>,
    ) -> Result<reply::SerdeExtension, Error> {
        let core = &mut ctx.core;
        match (backend, extension) {
            (BackendKind::Auth, ExtensionKind::Auth) => self.auth.extension_request_serialized(
                core,
                &mut ctx.backends.auth,
                request,
                resources,
            ),
            (BackendKind::Staging, ExtensionKind::WrapKeyToFile) => {
                ExtensionImpl::<WrapKeyToFileExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendKind::Staging, ExtensionKind::Chunked) => {
                ExtensionImpl::<ChunkedExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            _ => Err(Error::RequestNotAvailable),
        }
    }
}

impl ExtensionId<AuthExtension> for Backends {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::Auth;
}

impl ExtensionId<WrapKeyToFileExtension> for Backends {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::WrapKeyToFile;
}

impl ExtensionId<ChunkedExtension> for Backends {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::Chunked;
}

/// Size of one trussed virtual filesystem file (trussed's `virt` store: 128 blocks of 512
/// bytes); trussed asserts it when it opens an existing file.
pub const STORE_FILE_LEN: u64 = 512 * 128;

/// Runs `f` with a trussed client whose internal and external filesystems are the files
/// `internal` and `external` (created and formatted when absent), and whose volatile
/// filesystem is in RAM: what a card keeps across a power cycle survives a restart.
pub fn with_client<R>(
    internal: &Path,
    external: &Path,
    f: impl FnOnce(OpcardClient<'_>) -> R,
) -> R {
    let mut config = StoreConfig {
        internal: StorageConfig::filesystem(internal.to_owned()),
        external: StorageConfig::filesystem(external.to_owned()),
        volatile: StorageConfig::ram(),
    };
    config.with_store(|store| {
        let platform = OsPlatform {
            rng: OsRng,
            store,
            ui: UserInterface::new(),
        };
        let channel = TrussedChannel::new();
        // A fresh channel always splits once.
        let Some((requester, responder)) = channel.split() else {
            unreachable!("a new trussed channel splits")
        };
        let Ok(client_path) = CLIENT_ID.try_into() else {
            unreachable!("{CLIENT_ID} is a valid trussed path")
        };
        let mut endpoints = [ServiceEndpoint::new(
            responder,
            CoreContext::new(client_path),
            BACKENDS,
        )];
        let (wake, woken) = mpsc::channel();
        let client = ClientImplementation::new(requester, Wake(wake), None);
        let backends = Backends {
            // No hardware key: a PC has no device secret to bind the PIN keys to.
            auth: AuthBackend::new(Location::Internal, FilesystemLayout::V0),
            staging: StagingBackend::new(),
        };
        let mut service = Service::with_dispatch(platform, backends);
        std::thread::scope(|scope| {
            // Serves every syscall as it comes; ends when `f` drops the client (and with it
            // the only sender), so the scope's join cannot wait on a service that waits.
            scope.spawn(move || {
                while woken.recv().is_ok() {
                    service.process(&mut endpoints);
                }
            });
            f(client)
        })
    })
}
