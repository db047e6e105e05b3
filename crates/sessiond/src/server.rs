//! The two local sockets (art. 15, 17: nothing else listens).
//!
//! One request per connection: a JSON line, capped in size and in time, then one answer line.
//! Every connection carries its peer's credentials (SO_PEERCRED): a non-root caller on the
//! login socket may act only for itself, and the admin socket serves root and members of the
//! admin group only. A bad request gets a clear error; it never stops the server.

use crate::engine::Engine;
use crate::sessions::{Session, SessionState as TableState};
use crate::users;
use admission::{refuse, Limits, RefusalLog};
use cardgate_card::SecretString;
use cardgate_protocol::{
    encode_answer, parse_request, AdminRequest, Answer, EndReason, Info, LoginRequest,
    RequestError, SessionInfo, SessionState, Status, TerminalInfo,
};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use zeroize::Zeroizing;

mod admission;
mod roles;

/// Which socket a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// PAM and `cardgatectl login`.
    Login,
    /// `cardgatectl` admin commands.
    Admin,
}

/// One request line, read into a buffer allocated once at the cap and never grown: a `Vec`
/// that grows copies its contents and frees the old block unwiped, and this line may carry a
/// PIN. The whole buffer is wiped when the line drops.
struct RequestLine {
    buf: Zeroizing<Vec<u8>>,
    len: usize,
}

impl RequestLine {
    /// The line, without its newline.
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Reads one request line: at most `limit` bytes, within `timeout` in all and with no
/// silence longer than `idle`. The line ends at a newline or when the client closes its side.
async fn read_request(
    stream: &mut UnixStream,
    limit: usize,
    idle: Duration,
    timeout: Duration,
) -> Result<RequestLine, String> {
    // One byte over the cap tells a line that is too long from one that fits exactly.
    let mut buf = Zeroizing::new(vec![0u8; limit + 1]);
    let mut filled = 0;
    let deadline = Instant::now() + timeout;
    let len = loop {
        if filled == buf.len() {
            return Err(RequestError::TooLarge { limit }.to_string());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = idle.min(left);
        let n = match tokio::time::timeout(wait, stream.read(&mut buf[filled..])).await {
            Err(_) if left <= idle => {
                return Err(format!(
                    "no complete request within {} ms",
                    timeout.as_millis()
                ))
            }
            Err(_) => {
                return Err(format!(
                    "no complete request within {} ms of silence",
                    idle.as_millis()
                ))
            }
            Ok(Err(e)) => return Err(format!("read failed: {e}")),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            break filled;
        }
        if let Some(end) = buf[filled..filled + n].iter().position(|&b| b == b'\n') {
            break filled + end;
        }
        filled += n;
    };
    if len > limit {
        return Err(RequestError::TooLarge { limit }.to_string());
    }
    Ok(RequestLine { buf, len })
}

async fn answer(stream: &mut UnixStream, a: &Answer) {
    let bytes = match encode_answer(a) {
        Ok(bytes) => bytes,
        // Nothing of ours fails to encode; should it, the client reads no answer, which it
        // takes for a refusal.
        Err(e) => {
            tracing::error!(error = %e, "an answer could not be encoded");
            Vec::new()
        }
    };
    // The client may be gone; nothing is owed to it then.
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&bytes)).await
    {
        tracing::debug!(error = %e, "the answer could not be sent");
    }
    if let Err(e) = stream.shutdown().await {
        tracing::debug!(error = %e, "shutdown after the answer failed");
    }
    // Closing a Unix socket with unread input resets it and the client would lose the answer
    // (an oversized request is answered before it is all read): drain a little first.
    let mut sink = Zeroizing::new([0u8; 4096]);
    let drain = async {
        let mut left = 256 * 1024usize;
        while left > 0 {
            match stream.read(&mut sink[..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    // A client that keeps sending is cut off after the drain's time; that is the point.
    let _drained = tokio::time::timeout(Duration::from_millis(200), drain).await;
}

fn error(message: impl Into<String>) -> Answer {
    Answer::error(message)
}

async fn serve_connection(engine: Arc<Engine>, mut stream: UnixStream, socket: Socket, uid: u32) {
    let (limit, idle, timeout) = {
        let d = &engine.config().daemon;
        (
            d.max_request_bytes,
            Duration::from_millis(d.idle_timeout_ms),
            Duration::from_millis(d.request_timeout_ms),
        )
    };
    // On the admin socket the caller's role is known before a byte is read: a uid in
    // neither group is refused without sending anything, and only members may send the
    // larger requests (a revocation list).
    let (role, limit) = match socket {
        Socket::Login => (None, limit),
        Socket::Admin => {
            let config = engine.clone();
            let role = tokio::task::spawn_blocking(move || roles::role_of(uid, config.config()))
                .await
                .unwrap_or(Err(roles::NoRole::Neither));
            match role {
                Ok(role) => (Some(role), limit.max(roles::MEMBER_REQUEST_BYTES)),
                Err(why) => {
                    tracing::warn!(uid, ?why, "admin connection refused: no role");
                    answer(&mut stream, &why.answer(uid, engine.config())).await;
                    return;
                }
            }
        }
    };
    let line = match read_request(&mut stream, limit, idle, timeout).await {
        Ok(line) => line,
        Err(message) => {
            tracing::warn!(uid, ?socket, %message, "bad request");
            answer(&mut stream, &error(message)).await;
            return;
        }
    };
    let reply = match role {
        None => login_request(&engine, uid, line.bytes(), limit).await,
        Some(role) => admin_request(&engine, uid, role, line.bytes(), limit).await,
    };
    drop(line);
    answer(&mut stream, &reply).await;
}

/// The name of a uid, looked up off the event loop (the name service may be SSSD or LDAP).
async fn name_of(uid: u32) -> Result<String, users::UserError> {
    tokio::task::spawn_blocking(move || users::user_name(uid))
        .await
        .unwrap_or(Err(users::UserError::UnknownUid { uid }))
}

async fn login_request(engine: &Arc<Engine>, uid: u32, line: &[u8], limit: usize) -> Answer {
    // A JSON string with an escape is decoded by serde_json into a scratch buffer (and by
    // serde's tag buffering into a plain `String`) that nobody wipes. Nothing a login client
    // sends needs an escape (names, terminal IDs and PINs are plain text), so a PIN never
    // takes that path: such a line is refused before it is parsed.
    if line.contains(&b'\\') {
        tracing::warn!(uid, "login request with a JSON escape refused");
        return error("malformed request: escapes (\\) are not accepted on the login socket");
    }
    let request: LoginRequest = match parse_request(line, limit) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(uid, error = %e, "malformed login request");
            return error(format!("{e}: {}", e.describe()));
        }
    };
    // A user may only act for themself; root (the login program's PAM stack) for anyone.
    if uid != 0 {
        match name_of(uid).await {
            Ok(me) if request.user().is_none_or(|u| u == me) => {}
            Ok(_) => return error("you may only authenticate yourself"),
            Err(e) => {
                tracing::warn!(uid, error = %e, "login request refused: the caller has no usable name");
                return error(format!("you may only authenticate yourself ({e})"));
            }
        }
        // Sessions are registered and ended by the login program's PAM stack, which runs as
        // root. A user who could end their own registration would keep working with the
        // removal lock switched off (art. 6.2).
        if matches!(
            request,
            LoginRequest::OpenSession { .. } | LoginRequest::CloseSession { .. }
        ) {
            return error("sessions are registered and ended by the login program only");
        }
    }
    let engine = engine.clone();
    // The PINs move (not copied) from the request's zeroizing fields into the card crate's.
    let secret = |mut pin: cardgate_protocol::PinField| SecretString::new(pin.take());
    tokio::task::spawn_blocking(move || -> Answer {
        match request {
            LoginRequest::Probe { terminal, user } => engine.probe(uid, &terminal, &user),
            LoginRequest::Authenticate {
                terminal,
                user,
                pin,
            } => engine.authenticate(uid, &terminal, &user, &secret(pin)),
            LoginRequest::ChangePin {
                terminal,
                user,
                old,
                new,
            } => engine.change_pin(uid, &terminal, &user, &secret(old), &secret(new)),
            LoginRequest::OpenSession {
                terminal,
                user,
                session_id,
            } => engine.open_session(&terminal, &user, &session_id),
            LoginRequest::CloseSession { user, session_id } => {
                engine.close_session(&user, &session_id)
            }
        }
    })
    .await
    .unwrap_or_else(|_| error("internal error"))
}

/// A session of the table as the `sessions` answer shows it.
fn session_info(s: Session) -> SessionInfo {
    use cardgate_audit::record::EndReason as Table;
    SessionInfo {
        session_id: s.session_id,
        terminal: s.terminal,
        reader: s.reader,
        user: s.user,
        operator_id: s.operator_id,
        serial: s.serial,
        opened_at: s.opened_at,
        verified_at: s.verified_at,
        state: match s.state {
            TableState::Active => SessionState::Active,
            TableState::Locked => SessionState::Locked,
            TableState::Ending => SessionState::Ending,
        },
        end_reason: s.end_reason.map(|r| match r {
            Table::Logout => EndReason::Logout,
            Table::CardRemoved => EndReason::CardRemoved,
            Table::Timeout => EndReason::Timeout,
            Table::Shutdown => EndReason::Shutdown,
            Table::Revoked => EndReason::Revoked,
            Table::LockFailed => EndReason::LockFailed,
            Table::NoLocker => EndReason::NoLocker,
            Table::LockNotConfirmed => EndReason::LockNotConfirmed,
            // The audit's enum is non_exhaustive; a reason added there shows as "other"
            // until the protocol names it.
            _ => EndReason::Other,
        }),
        boot_id: s.boot_id,
    }
}

/// The wire name of an admin request, for the log.
fn request_op(request: &AdminRequest) -> &'static str {
    match request {
        AdminRequest::Status => "status",
        AdminRequest::Sessions => "sessions",
        AdminRequest::CardIssued { .. } => "card_issued",
        AdminRequest::PinUnblocked { .. } => "pin_unblocked",
        AdminRequest::CardReturned { .. } => "card_returned",
        AdminRequest::CardRevoked { .. } => "card_revoked",
        AdminRequest::Note { .. } => "note",
        AdminRequest::PukRejected { .. } => "puk_rejected",
        AdminRequest::ManagerRefused { .. } => "manager_refused",
        AdminRequest::PukBlocked { .. } => "puk_blocked",
        AdminRequest::PublishRevocationList { .. } => "publish_revocation_list",
        AdminRequest::LendInRegister { .. } => "lend_in_register",
        AdminRequest::MarkUnblockedInRegister { .. } => "mark_unblocked_in_register",
    }
}

/// The daemon's state (the answer to `status`, and to a published revocation list).
fn status(engine: &Engine) -> Answer {
    Answer::Info {
        data: Info::Status(Status {
            revocation_list_version: engine.revocation_version(),
            sessions: engine.sessions().len() as u64,
            terminals: engine
                .config()
                .terminals
                .iter()
                .map(|t| TerminalInfo {
                    id: t.id.clone(),
                    reader: t.reader.clone(),
                })
                .collect(),
        }),
    }
}

/// A register change made for the access manager (blocking: it reads the cards), answered
/// with the daemon's status when made, with the refusal otherwise.
async fn register_change(
    engine: &Arc<Engine>,
    change: impl FnOnce(&Engine) -> Result<(), String> + Send + 'static,
) -> Answer {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || match change(&engine) {
        Ok(()) => status(&engine),
        Err(why) => error(why),
    })
    .await
    .unwrap_or_else(|_| error("internal error"))
}

async fn admin_request(
    engine: &Arc<Engine>,
    uid: u32,
    role: roles::Role,
    line: &[u8],
    limit: usize,
) -> Answer {
    let request: AdminRequest = match parse_request(line, limit) {
        Ok(r) => r,
        Err(e) => return error(format!("{e}: {}", e.describe())),
    };
    if let Err(why) = roles::allowed(role, &request) {
        tracing::warn!(
            uid,
            op = request_op(&request),
            why,
            "admin request refused for the access manager's role"
        );
        return error(format!(
            "uid {uid} is the access manager ({}), and {why}: refused",
            engine.config().daemon.manager_group
        ));
    }
    if let AdminRequest::PublishRevocationList { list } = &request {
        tracing::info!(
            uid,
            ?role,
            bytes = list.len() / 2,
            "admin request: publish a revocation list"
        );
        let (engine, list) = (engine.clone(), list.clone());
        return tokio::task::spawn_blocking(move || roles::publish_list(&engine, uid, &list))
            .await
            .unwrap_or_else(|_| error("internal error"));
    }
    tracing::info!(uid, ?role, ?request, "admin request");
    let name = name_of(uid).await.ok();
    match request {
        AdminRequest::Status => status(engine),
        AdminRequest::Sessions => Answer::Info {
            data: Info::Sessions(engine.sessions().into_iter().map(session_info).collect()),
        },
        AdminRequest::LendInRegister {
            serial,
            operator,
            role,
            reader,
            manager,
            manager_reader,
        } => {
            register_change(engine, move |e| {
                e.lend_in_register(
                    uid,
                    name.as_deref(),
                    serial,
                    &operator,
                    role,
                    &reader,
                    manager,
                    manager_reader,
                )
            })
            .await
        }
        AdminRequest::MarkUnblockedInRegister {
            serial,
            reader,
            manager,
            manager_reader,
        } => {
            register_change(engine, move |e| {
                e.mark_unblocked_in_register(
                    uid,
                    name.as_deref(),
                    serial,
                    &reader,
                    manager,
                    manager_reader,
                )
            })
            .await
        }
        other => {
            let engine = engine.clone();
            tokio::task::spawn_blocking(move || -> Answer {
                engine.admin_record(uid, name.as_deref(), other)
            })
            .await
            .unwrap_or_else(|_| error("internal error"))
        }
    }
}

/// Accepts connections on one socket until `shutdown` resolves. The loop never waits for a
/// slot: each connection is identified (SO_PEERCRED) as soon as it is accepted and either
/// gets a slot of its uid's kind or is refused at once (see `admission::Limits`).
///
/// Each connection's task holds a clone of `in_flight` until it is done, and this function
/// drops its own when it returns: the receiver's `recv` yields `None` once every connection
/// accepted here has been answered (see [`crate::daemon::run`]).
pub async fn serve(
    engine: Arc<Engine>,
    listener: UnixListener,
    socket: Socket,
    shutdown: impl Future<Output = ()>,
    in_flight: tokio::sync::mpsc::Sender<()>,
) {
    let limits = Limits::new(&engine.config().daemon);
    let mut refusals = RefusalLog {
        last: None,
        pending: 0,
    };
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            s = listener.accept() => s,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: give the connections being served time to end.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let uid = match stream.peer_cred() {
            Ok(cred) => cred.uid(),
            Err(_) => {
                refusals.note(socket, None, "cannot identify the caller");
                refuse(stream, &error("cannot identify the caller"));
                continue;
            }
        };
        match limits.admit(uid) {
            Ok(admission) => {
                let engine = engine.clone();
                let in_flight = in_flight.clone();
                tokio::spawn(async move {
                    let Some(slot) = admission.slot().await else {
                        return;
                    };
                    serve_connection(engine, stream, socket, uid).await;
                    drop(slot);
                    drop(in_flight);
                });
            }
            Err(full) => {
                refusals.note(socket, Some(uid), &format!("{full:?}"));
                refuse(stream, &full.answer());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn a_request_in_pieces_is_read_into_one_buffer_that_never_grows() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        let writer = tokio::spawn(async move {
            for piece in [&b"{\"op\":"[..], b"\"probe\"", b"}\nrest"] {
                client.write_all(piece).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            client
        });
        let line = read_request(
            &mut server,
            64,
            Duration::from_millis(500),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
        assert_eq!(line.bytes(), br#"{"op":"probe"}"#);
        assert_eq!(line.buf.capacity(), 65, "allocated once, at the cap");
        drop(writer.await.unwrap());

        // Silence is cut short, and a line over the cap is refused.
        let (_quiet, mut server) = UnixStream::pair().unwrap();
        let start = Instant::now();
        let err = read_request(
            &mut server,
            64,
            Duration::from_millis(100),
            Duration::from_secs(5),
        )
        .await
        .err()
        .unwrap();
        assert!(err.contains("silence"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(1));
        let (mut client, mut server) = UnixStream::pair().unwrap();
        client.write_all(&[b'x'; 100]).await.unwrap();
        let err = read_request(
            &mut server,
            64,
            Duration::from_millis(100),
            Duration::from_secs(1),
        )
        .await
        .err()
        .unwrap();
        assert!(err.contains("exceeds"), "{err}");
    }
}
