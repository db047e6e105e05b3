//! The two local sockets (art. 15, 17: nothing else listens).
//!
//! One request per connection: a JSON line, capped in size and in time, then one answer line.
//! Every connection carries its peer's credentials (SO_PEERCRED): a non-root caller on the
//! login socket may act only for itself, and the admin socket serves root and members of the
//! admin group only. A bad request gets a clear error; it never stops the server.

use crate::engine::Engine;
use crate::protocol::{parse_request, AdminRequest, Answer, LoginRequest, RequestError};
use crate::users;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

const PASSWD: &str = "/etc/passwd";
const GROUP: &str = "/etc/group";

/// Which socket a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// PAM and `cardgatectl login`.
    Login,
    /// `cardgatectl` admin commands.
    Admin,
}

/// Reads one request line: at most `limit` bytes, within `timeout`. The line ends at a
/// newline or when the client closes its side.
async fn read_request(
    stream: &mut UnixStream,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut line = Vec::with_capacity(256);
    let read = async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            let piece = &chunk[..n];
            if let Some(end) = piece.iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&piece[..end]);
                return Ok(true);
            }
            line.extend_from_slice(piece);
            if line.len() > limit {
                return Ok(false);
            }
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => {
            return Err(format!(
                "no complete request within {} ms",
                timeout.as_millis()
            ))
        }
        Ok(Err(e)) => return Err(format!("read failed: {e}")),
        Ok(Ok(_)) => {}
    }
    if line.len() > limit {
        return Err(RequestError::TooLarge { limit }.to_string());
    }
    Ok(line)
}

async fn answer(stream: &mut UnixStream, a: &Answer) {
    let mut bytes = serde_json::to_vec(a)
        .unwrap_or_else(|_| br#"{"result":"error","message":"internal"}"#.to_vec());
    bytes.push(b'\n');
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&bytes)).await;
    let _ = stream.shutdown().await;
    // Closing a Unix socket with unread input resets it and the client would lose the answer
    // (an oversized request is answered before it is all read): drain a little first.
    let mut sink = [0u8; 4096];
    let drain = async {
        let mut left = 256 * 1024usize;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(200), drain).await;
}

fn error(message: impl Into<String>) -> Answer {
    Answer::Error {
        message: message.into(),
    }
}

async fn serve_connection(engine: Arc<Engine>, mut stream: UnixStream, socket: Socket) {
    let (limit, timeout) = {
        let d = &engine.config().daemon;
        (
            d.max_request_bytes,
            Duration::from_millis(d.request_timeout_ms),
        )
    };
    let Ok(cred) = stream.peer_cred() else {
        answer(&mut stream, &error("cannot identify the caller")).await;
        return;
    };
    let uid = cred.uid();
    let line = match read_request(&mut stream, limit, timeout).await {
        Ok(line) => line,
        Err(message) => {
            tracing::warn!(uid, ?socket, %message, "bad request");
            answer(&mut stream, &error(message)).await;
            return;
        }
    };
    let reply = match socket {
        Socket::Login => login_request(&engine, uid, &line, limit).await,
        Socket::Admin => admin_request(&engine, uid, &line, limit).await,
    };
    answer(&mut stream, &reply).await;
}

async fn login_request(engine: &Arc<Engine>, uid: u32, line: &[u8], limit: usize) -> Answer {
    let request: LoginRequest = match parse_request(line, limit) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(uid, error = %e, "malformed login request");
            return error(format!("{e}: {}", describe_parse_error(&e)));
        }
    };
    // A user may only act for themself; root (the login program's PAM stack) for anyone.
    if uid != 0 {
        let me = users::user_name(Path::new(PASSWD), uid);
        if request.user().is_some_and(|u| Some(u) != me.as_deref()) {
            return error("you may only authenticate yourself");
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
    tokio::task::spawn_blocking(move || match request {
        LoginRequest::Probe { terminal, user } => engine.probe(uid, &terminal, &user),
        LoginRequest::Authenticate {
            terminal,
            user,
            pin,
        } => engine.authenticate(uid, &terminal, &user, &pin.0),
        LoginRequest::ChangePin {
            terminal,
            user,
            old,
            new,
        } => engine.change_pin(uid, &terminal, &user, &old.0, &new.0),
        LoginRequest::OpenSession {
            terminal,
            user,
            session_id,
        } => engine.open_session(&terminal, &user, &session_id),
        LoginRequest::CloseSession { user, session_id } => engine.close_session(&user, &session_id),
    })
    .await
    .unwrap_or_else(|_| error("internal error"))
}

fn describe_parse_error(e: &RequestError) -> String {
    match e {
        // Only the category and the position go back to the client: serde's own message can
        // quote a value from the request (a number, say), and a request may carry a PIN.
        RequestError::Malformed(inner)
            if inner.is_data() || inner.is_syntax() || inner.is_eof() =>
        {
            format!(
                "{:?} error at line {} column {}",
                inner.classify(),
                inner.line(),
                inner.column()
            )
        }
        _ => String::from("unreadable"),
    }
}

async fn admin_request(engine: &Arc<Engine>, uid: u32, line: &[u8], limit: usize) -> Answer {
    let group = &engine.config().daemon.admin_group;
    if !users::in_group(Path::new(PASSWD), Path::new(GROUP), uid, group) {
        tracing::warn!(uid, "admin request refused: not in the admin group");
        return error(format!("uid {uid} is not a member of {group}"));
    }
    let request: AdminRequest = match parse_request(line, limit) {
        Ok(r) => r,
        Err(e) => return error(format!("{e}: {}", describe_parse_error(&e))),
    };
    tracing::info!(uid, ?request, "admin request");
    let name = users::user_name(Path::new(PASSWD), uid);
    match request {
        AdminRequest::Status => Answer::Info {
            data: serde_json::json!({
                "revocation_list_version": engine.revocation_version(),
                "sessions": engine.sessions().len(),
                "terminals": engine.config().terminals.iter().map(|t| serde_json::json!({"id": t.id, "reader": t.reader})).collect::<Vec<_>>(),
            }),
        },
        AdminRequest::Sessions => Answer::Info {
            data: serde_json::to_value(engine.sessions()).unwrap_or_default(),
        },
        other => {
            let engine = engine.clone();
            tokio::task::spawn_blocking(move || engine.admin_record(uid, name.as_deref(), other))
                .await
                .unwrap_or_else(|_| error("internal error"))
        }
    }
}

/// Accepts connections on one socket until `shutdown` resolves. At most `max` connections
/// are served at once; the others wait in the kernel's backlog.
pub async fn serve(
    engine: Arc<Engine>,
    listener: UnixListener,
    socket: Socket,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(engine.config().daemon.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            s = listener.accept() => s,
        };
        match stream {
            Ok((stream, _)) => {
                let engine = engine.clone();
                tokio::spawn(async move {
                    serve_connection(engine, stream, socket).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
