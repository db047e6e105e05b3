//! What each PAM entry point does, written against [`Host`] (the PAM handle and its
//! conversation) so that the logic runs in unit tests without libpam.

use crate::args::{host_terminal, Settings};
use crate::client::{self, Answer, ClientError, DenyCode, LoginRequest, PinField};
use crate::codes::{code, denial, flag, Phase};
use crate::messages::{Lang, Msg};
use crate::syslog::{self, Priority};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How often the module asks again while it waits for a card.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// The longest user name or session ID sent to the daemon.
pub const MAX_NAME_LEN: usize = 256;

/// What the module keeps on the PAM handle between calls (`pam_set_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The serial of the card that authenticated: account and session checks must see the same
    /// card.
    Serial,
    /// `"1"` while the initial PIN must still be changed.
    MustChangePin,
}

impl Kept {
    /// The `pam_set_data` name.
    pub fn name(self) -> &'static str {
        match self {
            Kept::Serial => "cardgate.serial",
            Kept::MustChangePin => "cardgate.must_change_pin",
        }
    }
}

/// The PAM side: the handle's items, environment and data, and the conversation.
pub trait Host {
    /// The user being authenticated (`pam_get_user`), or the PAM code to return.
    fn user(&mut self) -> Result<String, i32>;
    /// A variable of the PAM environment (`pam_getenv`).
    fn pam_env(&self, name: &str) -> Option<String>;
    /// `PAM_TTY`, for log lines only: it is never a session ID.
    fn tty(&self) -> Option<String>;
    /// Asks for a secret with echo off; the reply lives in a wiped-on-drop buffer.
    fn secret(&mut self, prompt: &str) -> Result<Zeroizing<String>, i32>;
    /// Shows a line (`PAM_TEXT_INFO`).
    fn info(&mut self, text: &str);
    /// Shows an error line (`PAM_ERROR_MSG`).
    fn error(&mut self, text: &str);
    /// Logs a line for the administrator (`pam_syslog`: facility `LOG_AUTHPRIV`). Never a
    /// secret: the lines are made in [`crate::syslog`].
    fn log(&mut self, priority: Priority, text: &str);
    /// Keeps a value on the handle.
    fn keep(&mut self, what: Kept, value: &str) -> Result<(), i32>;
    /// A value kept earlier on this handle.
    fn kept(&self, what: Kept) -> Option<String>;
}

/// One call's context: settings, language, terminal and user.
struct Call<'h, H: Host + ?Sized> {
    host: &'h mut H,
    settings: &'h Settings,
    lang: Lang,
    silent: bool,
    terminal: String,
    /// The user, for the log lines.
    user: String,
}

impl<H: Host + ?Sized> Call<'_, H> {
    fn info(&mut self, msg: Msg<'_>) {
        if !self.silent {
            let text = msg.text(self.lang);
            self.host.info(&text);
        }
    }

    fn error(&mut self, msg: Msg<'_>) {
        if !self.silent {
            let text = msg.text(self.lang);
            self.host.error(&text);
        }
    }

    fn ask(&self, request: &LoginRequest) -> Result<Answer, ClientError> {
        client::ask(&self.settings.socket, request, self.settings.timeout)
    }

    /// The daemon could not answer: say so, log it and fail closed.
    fn unreachable(&mut self, phase: Phase, error: &ClientError) -> i32 {
        let line = syslog::unreachable(
            phase,
            &self.user,
            &self.terminal,
            &self.settings.socket,
            error,
        );
        self.host.log(Priority::Err, &line);
        self.error(Msg::DaemonUnreachable);
        code::AUTHINFO_UNAVAIL
    }

    /// A denial: say why, return its code.
    fn refuse(
        &mut self,
        phase: Phase,
        reason: DenyCode,
        tries_left: Option<u8>,
        message: &str,
    ) -> i32 {
        let line = syslog::refusal(phase, &self.user, &self.terminal, reason, tries_left);
        self.host.log(Priority::Notice, &line);
        let (code, msg) = denial(phase, reason, tries_left, message);
        self.error(msg);
        code
    }

    /// An answer that does not fit the request (`error`, or a kind the request cannot get).
    fn misanswered(&mut self, phase: Phase) -> i32 {
        let line = syslog::misanswered(phase, &self.user, &self.terminal);
        self.host.log(Priority::Err, &line);
        self.error(Msg::ServiceUnavailable);
        match phase {
            Phase::Session => code::SESSION_ERR,
            _ => code::AUTHINFO_UNAVAIL,
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && !name.chars().any(char::is_control)
}

fn start<'h, H: Host + ?Sized>(
    host: &'h mut H,
    settings: &'h Settings,
    flags: u32,
) -> Result<(Call<'h, H>, String), i32> {
    let lang = settings.lang.unwrap_or_else(|| {
        Lang::from_locale(|name| host.pam_env(name).or_else(|| std::env::var(name).ok()))
    });
    let user = host.user()?;
    if !valid_name(&user) {
        return Err(code::USER_UNKNOWN);
    }
    let terminal = match settings.terminal.clone().or_else(host_terminal) {
        Some(t) => t,
        None => {
            host.log(Priority::Err, &syslog::no_terminal());
            return Err(code::SERVICE_ERR);
        }
    };
    Ok((
        Call {
            host,
            settings,
            lang,
            silent: flags & flag::SILENT != 0,
            terminal,
            user: user.clone(),
        },
        user,
    ))
}

/// Probes until a usable card is in the reader, waiting up to `settings.wait` for one to be
/// inserted. `Ok(serial)`, or the code to return (the person has been told why).
fn wait_for_card<H: Host + ?Sized>(
    call: &mut Call<'_, H>,
    user: &str,
    phase: Phase,
) -> Result<String, i32> {
    let deadline = Instant::now() + call.settings.wait;
    let mut asked_for_card = false;
    loop {
        let answer = call.ask(&LoginRequest::Probe {
            terminal: call.terminal.clone(),
            user: user.to_owned(),
        });
        match answer {
            Ok(Answer::Ready { serial, .. }) => return Ok(serial.to_string()),
            Ok(Answer::Denied {
                code: DenyCode::NoCard,
                ..
            }) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(call.refuse(phase, DenyCode::NoCard, None, ""));
                }
                if !asked_for_card {
                    call.info(Msg::InsertCard);
                    asked_for_card = true;
                }
                std::thread::sleep(PROBE_INTERVAL.min(deadline - now));
            }
            Ok(Answer::Denied {
                code,
                tries_left,
                message,
            }) => return Err(call.refuse(phase, code, tries_left, &message)),
            Ok(Answer::Error { .. } | Answer::Granted { .. } | Answer::Info { .. }) => {
                return Err(call.misanswered(phase))
            }
            Err(e) => return Err(call.unreachable(phase, &e)),
        }
    }
}

/// `pam_sm_authenticate`: probe (waiting for a card), one PIN prompt, `authenticate`.
pub fn authenticate<H: Host + ?Sized>(host: &mut H, settings: &Settings, flags: u32) -> i32 {
    let (mut call, user) = match start(host, settings, flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // A revoked, expired or foreign card is refused here, before any PIN is typed.
    if let Err(code) = wait_for_card(&mut call, &user, Phase::Auth) {
        return code;
    }
    let prompt = Msg::PinPrompt.text(call.lang);
    let pin = match call.host.secret(&prompt) {
        Ok(pin) => pin,
        Err(code) => return code,
    };
    if pin.is_empty() {
        call.error(Msg::MalformedPin);
        return code::AUTH_ERR;
    }
    // Copied once, into another zeroizing buffer; both are wiped when they drop.
    let request = LoginRequest::Authenticate {
        terminal: call.terminal.clone(),
        user: user.clone(),
        pin: PinField::copy_from(&pin),
    };
    drop(pin);
    let answer = call.ask(&request);
    drop(request);
    match answer {
        Ok(Answer::Granted {
            serial,
            must_change_pin,
            ..
        }) => {
            if call.host.keep(Kept::Serial, &serial.to_string()).is_err() {
                return code::SYSTEM_ERR;
            }
            if must_change_pin {
                if call.host.keep(Kept::MustChangePin, "1").is_err() {
                    return code::SYSTEM_ERR;
                }
                call.info(Msg::MustChangePin);
            }
            code::SUCCESS
        }
        Ok(Answer::Denied {
            code,
            tries_left,
            message,
        }) => call.refuse(Phase::Auth, code, tries_left, &message),
        Ok(Answer::Error { .. } | Answer::Ready { .. } | Answer::Info { .. }) => {
            call.misanswered(Phase::Auth)
        }
        Err(e) => call.unreachable(Phase::Auth, &e),
    }
}

/// `pam_sm_acct_mgmt`: the card is still usable (valid, not revoked, lent to this user,
/// within business hours: the daemon's `probe` checks all of these), it is the card that
/// authenticated, and its initial PIN has been changed.
pub fn account<H: Host + ?Sized>(host: &mut H, settings: &Settings, flags: u32) -> i32 {
    let (mut call, user) = match start(host, settings, flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let answer = call.ask(&LoginRequest::Probe {
        terminal: call.terminal.clone(),
        user: user.clone(),
    });
    match answer {
        Ok(Answer::Ready { serial, .. }) => {
            if call
                .host
                .kept(Kept::Serial)
                .is_some_and(|authenticated| authenticated != serial.to_string())
            {
                call.error(Msg::CardChanged);
                return code::PERM_DENIED;
            }
            if call.host.kept(Kept::MustChangePin).as_deref() == Some("1") {
                call.error(Msg::MustChangePin);
                return code::NEW_AUTHTOK_REQD;
            }
            code::SUCCESS
        }
        Ok(Answer::Denied {
            code,
            tries_left,
            message,
        }) => call.refuse(Phase::Account, code, tries_left, &message),
        Ok(Answer::Error { .. } | Answer::Granted { .. } | Answer::Info { .. }) => {
            call.misanswered(Phase::Account)
        }
        Err(e) => call.unreachable(Phase::Account, &e),
    }
}

/// `pam_sm_chauthtok`: on the preliminary pass only a probe; on the update pass the current
/// PIN, the new PIN twice (a mismatch never reaches the daemon), then `change_pin`.
pub fn change_pin<H: Host + ?Sized>(host: &mut H, settings: &Settings, flags: u32) -> i32 {
    let (mut call, user) = match start(host, settings, flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if flags & flag::PRELIM_CHECK != 0 {
        return match wait_for_card(&mut call, &user, Phase::Password) {
            Ok(_) => code::SUCCESS,
            Err(code) => code,
        };
    }
    if flags & flag::UPDATE_AUTHTOK == 0 {
        return code::SERVICE_ERR;
    }
    if let Err(code) = wait_for_card(&mut call, &user, Phase::Password) {
        return code;
    }
    let prompts =
        [Msg::OldPinPrompt, Msg::NewPinPrompt, Msg::RepeatPinPrompt].map(|m| m.text(call.lang));
    let old = match call.host.secret(&prompts[0]) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let new = match call.host.secret(&prompts[1]) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let repeat = match call.host.secret(&prompts[2]) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if !cardgate_card::ct_eq(new.as_bytes(), repeat.as_bytes()) {
        call.error(Msg::PinMismatch);
        return code::AUTHTOK_ERR;
    }
    drop(repeat);
    let request = LoginRequest::ChangePin {
        terminal: call.terminal.clone(),
        user: user.clone(),
        old: PinField::copy_from(&old),
        new: PinField::copy_from(&new),
    };
    drop((old, new));
    let answer = call.ask(&request);
    drop(request);
    match answer {
        Ok(Answer::Granted { .. }) => {
            let _ = call.host.keep(Kept::MustChangePin, "0");
            call.info(Msg::PinChanged);
            code::SUCCESS
        }
        Ok(Answer::Denied {
            code,
            tries_left,
            message,
        }) => call.refuse(Phase::Password, code, tries_left, &message),
        Ok(Answer::Error { .. } | Answer::Ready { .. } | Answer::Info { .. }) => {
            call.misanswered(Phase::Password)
        }
        Err(e) => call.unreachable(Phase::Password, &e),
    }
}

/// The session ID the daemon knows the session by: `XDG_SESSION_ID` from the PAM environment,
/// set by pam_systemd (which must come first in the session stack). There is deliberately no
/// fallback: a TTY name is no logind session (`loginctl lock-session tty3` acts on nothing),
/// and logind's numbers are its own, so a session without one is refused.
pub fn session_id<H: Host + ?Sized>(host: &H) -> Result<String, NoSession> {
    let id = host
        .pam_env("XDG_SESSION_ID")
        .filter(|s| !s.is_empty())
        .ok_or(NoSession::Unset)?;
    if valid_name(&id) && !id.contains(char::is_whitespace) {
        Ok(id)
    } else {
        Err(NoSession::Unusable)
    }
}

/// Why there is no session ID to register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSession {
    /// `XDG_SESSION_ID` is not in the PAM environment: pam_systemd is missing from the
    /// session stack, comes after this module, or failed.
    Unset,
    /// `XDG_SESSION_ID` is empty of meaning: too long, or with spaces or control characters.
    Unusable,
}

impl NoSession {
    fn why(self) -> &'static str {
        match self {
            NoSession::Unset => "pam_systemd set no XDG_SESSION_ID (is it missing from the session stack, after pam_cardgate, or did it fail?)",
            NoSession::Unusable => "XDG_SESSION_ID is not a usable logind session ID",
        }
    }
}

/// `pam_sm_open_session`: register the session so that card removal locks it (art. 6.2).
/// Without a logind session ID the session is refused: the removal lock would act on nothing.
pub fn open_session<H: Host + ?Sized>(host: &mut H, settings: &Settings, flags: u32) -> i32 {
    let (mut call, user) = match start(host, settings, flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let session = match session_id(&*call.host) {
        Ok(id) => id,
        Err(no) => {
            // PAM_TTY is the application's text: no control characters into the log line.
            let tty: String = call
                .host
                .tty()
                .unwrap_or_else(|| "none".into())
                .chars()
                .take(64)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            call.host.log(Priority::Err, &format!(
                "open_session refused for user {user} on terminal {} (PAM_TTY {tty}): {}; card removal could not lock this session",
                call.terminal,
                no.why()
            ));
            call.error(Msg::NoLogindSession);
            return code::SESSION_ERR;
        }
    };
    let answer = call.ask(&LoginRequest::OpenSession {
        terminal: call.terminal.clone(),
        user: user.clone(),
        session_id: session,
    });
    match answer {
        Ok(Answer::Granted { .. }) => code::SUCCESS,
        Ok(Answer::Denied {
            code,
            tries_left,
            message,
        }) => call.refuse(Phase::Session, code, tries_left, &message),
        Ok(Answer::Error { .. } | Answer::Ready { .. } | Answer::Info { .. }) => {
            call.misanswered(Phase::Session)
        }
        Err(e) => call.unreachable(Phase::Session, &e),
    }
}

/// `pam_sm_close_session`: the session ended.
pub fn close_session<H: Host + ?Sized>(host: &mut H, settings: &Settings, _flags: u32) -> i32 {
    let session = match session_id(&*host) {
        Ok(id) => id,
        Err(no) => {
            host.log(
                Priority::Err,
                &format!("close_session: nothing to unregister: {}", no.why()),
            );
            return code::SESSION_ERR;
        }
    };
    let Ok(user) = host.user() else {
        return code::SESSION_ERR;
    };
    match client::ask(
        &settings.socket,
        &LoginRequest::CloseSession {
            user,
            session_id: session,
        },
        settings.timeout,
    ) {
        Ok(Answer::Granted { .. }) => code::SUCCESS,
        Ok(_) => code::SESSION_ERR,
        Err(_) => code::AUTHINFO_UNAVAIL,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    /// A stand-in PAM handle: scripted replies, recorded messages.
    #[derive(Default)]
    struct FakeHost {
        user: String,
        env: HashMap<String, String>,
        tty: Option<String>,
        replies: Vec<&'static str>,
        prompts: Vec<String>,
        infos: Vec<String>,
        errors: Vec<String>,
        logs: Vec<String>,
        kept: HashMap<&'static str, String>,
    }

    impl Host for FakeHost {
        fn user(&mut self) -> Result<String, i32> {
            Ok(self.user.clone())
        }
        fn pam_env(&self, name: &str) -> Option<String> {
            self.env.get(name).cloned()
        }
        fn tty(&self) -> Option<String> {
            self.tty.clone()
        }
        fn secret(&mut self, prompt: &str) -> Result<Zeroizing<String>, i32> {
            self.prompts.push(prompt.to_owned());
            if self.replies.is_empty() {
                return Err(code::CONV_ERR);
            }
            Ok(Zeroizing::new(self.replies.remove(0).to_owned()))
        }
        fn info(&mut self, text: &str) {
            self.infos.push(text.to_owned());
        }
        fn error(&mut self, text: &str) {
            self.errors.push(text.to_owned());
        }
        fn log(&mut self, _priority: Priority, text: &str) {
            self.logs.push(text.to_owned());
        }
        fn keep(&mut self, what: Kept, value: &str) -> Result<(), i32> {
            self.kept.insert(what.name(), value.to_owned());
            Ok(())
        }
        fn kept(&self, what: Kept) -> Option<String> {
            self.kept.get(what.name()).cloned()
        }
    }

    fn host(replies: &[&'static str]) -> FakeHost {
        FakeHost {
            user: "tanaka".into(),
            replies: replies.to_vec(),
            ..FakeHost::default()
        }
    }

    /// A stand-in daemon on a real Unix socket: answers each connection from a script
    /// (`None`: close without answering) and records the request lines.
    struct FakeDaemon {
        dir: PathBuf,
        requests: Arc<Mutex<Vec<LoginRequest>>>,
    }

    impl FakeDaemon {
        fn start(name: &str, script: Vec<Option<&'static str>>) -> FakeDaemon {
            let dir = std::env::temp_dir()
                .join(format!("cardgate-pam-flows-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let listener = UnixListener::bind(dir.join("login.sock")).unwrap();
            let requests = Arc::new(Mutex::new(Vec::new()));
            let seen = requests.clone();
            std::thread::spawn(move || {
                for answer in script {
                    let Ok((stream, _)) = listener.accept() else {
                        return;
                    };
                    let mut line = String::new();
                    BufReader::new(&stream).read_line(&mut line).unwrap();
                    seen.lock().unwrap().push(
                        cardgate_protocol::parse_request(line.trim_end().as_bytes(), 4096).unwrap(),
                    );
                    if let Some(answer) = answer {
                        (&stream).write_all(answer.as_bytes()).unwrap();
                        (&stream).write_all(b"\n").unwrap();
                    }
                }
            });
            FakeDaemon { dir, requests }
        }

        fn settings(&self) -> Settings {
            Settings {
                terminal: Some("juki-01".into()),
                socket: self.dir.join("login.sock"),
                wait: Duration::from_secs(5),
                timeout: Duration::from_secs(5),
                lang: Some(Lang::En),
            }
        }

        fn ops(&self) -> Vec<String> {
            self.requests
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.op().to_owned())
                .collect()
        }
    }

    impl Drop for FakeDaemon {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    const READY: &str = r#"{"result":"ready","operator":"op-0042","serial":"0011223344556677"}"#;
    const GRANTED: &str = r#"{"result":"granted","operator":"op-0042","serial":"0011223344556677","must_change_pin":false}"#;
    const NO_CARD: &str =
        r#"{"result":"denied","reason":"no_card","message":"insert your operator card"}"#;

    #[test]
    fn the_pin_is_asked_once_after_the_probe() {
        let daemon = FakeDaemon::start("once", vec![Some(READY), Some(GRANTED)]);
        let mut h = host(&["Tanuki42"]);
        assert_eq!(authenticate(&mut h, &daemon.settings(), 0), code::SUCCESS);
        assert_eq!(h.prompts, vec!["Operator card PIN: "]);
        assert_eq!(daemon.ops(), vec!["probe", "authenticate"]);
        match &daemon.requests.lock().unwrap()[1] {
            LoginRequest::Authenticate {
                terminal,
                user,
                pin,
            } => assert_eq!(
                (terminal.as_str(), user.as_str(), pin.expose()),
                ("juki-01", "tanaka", "Tanuki42")
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(h.kept(Kept::Serial).as_deref(), Some("0011223344556677"));
    }

    #[test]
    fn a_refused_card_gets_no_pin_prompt() {
        let daemon = FakeDaemon::start(
            "revoked",
            vec![Some(
                r#"{"result":"denied","reason":"revoked","message":"this card has been revoked (lost)"}"#,
            )],
        );
        let mut h = host(&["Tanuki42"]);
        assert_eq!(authenticate(&mut h, &daemon.settings(), 0), code::AUTH_ERR);
        assert!(h.prompts.is_empty());
        assert!(h.errors[0].contains("revoked"), "{:?}", h.errors);
    }

    #[test]
    fn no_card_then_a_card_within_the_wait() {
        let daemon = FakeDaemon::start(
            "wait",
            vec![Some(NO_CARD), Some(NO_CARD), Some(READY), Some(GRANTED)],
        );
        let mut h = host(&["Tanuki42"]);
        let start = Instant::now();
        assert_eq!(authenticate(&mut h, &daemon.settings(), 0), code::SUCCESS);
        // Two sleeps between three probes: the pace is the interval, not a busy loop.
        assert!(start.elapsed() >= 2 * PROBE_INTERVAL);
        assert_eq!(h.infos, vec!["Insert your operator card into the reader."]);
        assert_eq!(
            daemon.ops(),
            vec!["probe", "probe", "probe", "authenticate"]
        );
    }

    #[test]
    fn no_card_within_the_wait() {
        let daemon = FakeDaemon::start("nowait", vec![Some(NO_CARD); 3]);
        let mut settings = daemon.settings();
        settings.wait = Duration::from_millis(300);
        let mut h = host(&["Tanuki42"]);
        assert_eq!(authenticate(&mut h, &settings, 0), code::CRED_INSUFFICIENT);
        assert!(h.prompts.is_empty());
        assert_eq!(h.errors, vec!["No operator card was inserted."]);
    }

    #[test]
    fn a_refusal_is_logged_with_user_terminal_and_reason_never_the_pin() {
        let daemon = FakeDaemon::start(
            "logged",
            vec![
                Some(READY),
                Some(
                    r#"{"result":"denied","reason":"wrong_pin","tries_left":2,"message":"wrong PIN; 2 tries left"}"#,
                ),
            ],
        );
        let mut h = host(&["Wrong999"]);
        assert_eq!(authenticate(&mut h, &daemon.settings(), 0), code::AUTH_ERR);
        assert_eq!(
            h.logs,
            vec!["authentication refused for user tanaka on terminal juki-01: wrong_pin (2 PIN tries left)"]
        );
        assert!(!h.logs.iter().any(|l| l.contains("Wrong999")));
    }

    #[test]
    fn a_daemon_that_cannot_be_reached_is_logged() {
        let mut settings = Settings {
            terminal: Some("juki-01".into()),
            ..Settings::default()
        };
        settings.socket = std::env::temp_dir().join("cardgate-pam-no-such.sock");
        let mut h = host(&["Tanuki42"]);
        assert_eq!(authenticate(&mut h, &settings, 0), code::AUTHINFO_UNAVAIL);
        assert_eq!(h.logs.len(), 1, "{:?}", h.logs);
        assert!(
            h.logs[0].contains("tanaka") && h.logs[0].contains("cannot connect to cardgated"),
            "{:?}",
            h.logs
        );
        assert!(
            h.logs[0].contains("cardgate-pam-no-such.sock"),
            "{:?}",
            h.logs
        );
    }

    #[test]
    fn a_wrong_pin_shows_the_tries_left_in_japanese() {
        let daemon = FakeDaemon::start(
            "wrong",
            vec![
                Some(READY),
                Some(
                    r#"{"result":"denied","reason":"wrong_pin","tries_left":2,"message":"wrong PIN; 2 tries left"}"#,
                ),
            ],
        );
        let mut settings = daemon.settings();
        settings.lang = None;
        let mut h = host(&["Wrong999"]);
        h.env.insert("LANG".into(), "ja_JP.UTF-8".into());
        assert_eq!(authenticate(&mut h, &settings, 0), code::AUTH_ERR);
        assert_eq!(
            h.prompts,
            vec!["操作者カードの暗証番号を入力してください: "]
        );
        assert!(h.errors[0].contains("残り2回"), "{:?}", h.errors);
    }

    #[test]
    fn silent_means_no_messages_but_the_same_code() {
        let daemon = FakeDaemon::start(
            "silent",
            vec![Some(
                r#"{"result":"denied","reason":"pin_blocked","message":"blocked"}"#,
            )],
        );
        let mut h = host(&[]);
        assert_eq!(
            authenticate(&mut h, &daemon.settings(), flag::SILENT),
            code::MAXTRIES
        );
        assert!(h.errors.is_empty() && h.infos.is_empty());
    }

    #[test]
    fn an_unreachable_silent_or_garbage_daemon_fails_closed() {
        let gone = Settings {
            terminal: Some("juki-01".into()),
            socket: PathBuf::from("/nonexistent/login.sock"),
            ..Settings::default()
        };
        for flow in [authenticate::<FakeHost>, account, change_pin] {
            let mut h = host(&["Tanuki42", "Tanuki42", "Tanuki42"]);
            assert_eq!(
                flow(&mut h, &gone, flag::UPDATE_AUTHTOK),
                code::AUTHINFO_UNAVAIL
            );
            assert!(h.prompts.is_empty(), "no PIN typed for nothing");
        }
        let mut h = host(&[]);
        h.env.insert("XDG_SESSION_ID".into(), "7".into());
        assert_eq!(open_session(&mut h, &gone, 0), code::AUTHINFO_UNAVAIL);
        assert_eq!(close_session(&mut h, &gone, 0), code::AUTHINFO_UNAVAIL);

        for (name, answer) in [
            ("garbage", Some("HTTP/1.0 200 OK")),
            ("unknown", Some(r#"{"result":"welcome"}"#)),
            ("closed", None),
            ("wrongkind", Some(GRANTED)),
            (
                "error",
                Some(r#"{"result":"error","message":"unknown terminal"}"#),
            ),
        ] {
            let daemon = FakeDaemon::start(name, vec![answer]);
            let mut h = host(&["Tanuki42"]);
            let rc = authenticate(&mut h, &daemon.settings(), 0);
            assert_eq!(rc, code::AUTHINFO_UNAVAIL, "{name}");
            assert!(h.prompts.is_empty());
        }
    }

    #[test]
    fn a_panic_free_bad_user_is_refused() {
        let daemon = FakeDaemon::start("user", vec![]);
        let mut h = host(&[]);
        h.user = "bad\nname".into();
        assert_eq!(
            authenticate(&mut h, &daemon.settings(), 0),
            code::USER_UNKNOWN
        );
        h.user = String::new();
        assert_eq!(account(&mut h, &daemon.settings(), 0), code::USER_UNKNOWN);
    }

    #[test]
    fn account_checks_the_same_card_and_the_initial_pin() {
        let daemon = FakeDaemon::start("acct", vec![Some(READY), Some(READY), Some(READY)]);
        let mut h = host(&[]);
        assert_eq!(account(&mut h, &daemon.settings(), 0), code::SUCCESS);
        h.kept.insert(Kept::MustChangePin.name(), "1".into());
        assert_eq!(
            account(&mut h, &daemon.settings(), 0),
            code::NEW_AUTHTOK_REQD
        );
        h.kept.insert(Kept::MustChangePin.name(), "0".into());
        h.kept
            .insert(Kept::Serial.name(), "ffffffffffffffff".into());
        assert_eq!(account(&mut h, &daemon.settings(), 0), code::PERM_DENIED);
        assert!(h.errors.last().unwrap().contains("not the card"));
    }

    #[test]
    fn account_refusals() {
        let daemon = FakeDaemon::start(
            "acct-refusals",
            vec![
                Some(
                    r#"{"result":"denied","reason":"expired","message":"this card expired on 2020-01-01"}"#,
                ),
                Some(r#"{"result":"denied","reason":"outside_business_hours","message":"no"}"#),
            ],
        );
        let mut h = host(&[]);
        assert_eq!(account(&mut h, &daemon.settings(), 0), code::ACCT_EXPIRED);
        assert_eq!(account(&mut h, &daemon.settings(), 0), code::PERM_DENIED);
        assert!(h.errors[1].contains("business hours"));
    }

    #[test]
    fn change_pin_mismatch_stays_local() {
        let daemon = FakeDaemon::start("mismatch", vec![Some(READY)]);
        let mut h = host(&["Tanuki42", "Kappa2027", "Kappa2028"]);
        assert_eq!(
            change_pin(&mut h, &daemon.settings(), flag::UPDATE_AUTHTOK),
            code::AUTHTOK_ERR
        );
        assert_eq!(
            h.prompts,
            vec!["Current PIN: ", "New PIN: ", "Repeat the new PIN: "]
        );
        assert_eq!(h.errors, vec!["The new PINs do not match."]);
        assert_eq!(daemon.ops(), vec!["probe"]);
    }

    #[test]
    fn change_pin_prelim_only_probes_and_update_sends_both_pins() {
        let daemon = FakeDaemon::start(
            "change",
            vec![
                Some(READY),
                Some(READY),
                Some(
                    r#"{"result":"denied","reason":"pin_policy","message":"the PIN must contain a digit"}"#,
                ),
                Some(READY),
                Some(GRANTED),
            ],
        );
        let settings = daemon.settings();
        let mut h = host(&[]);
        assert_eq!(
            change_pin(&mut h, &settings, flag::PRELIM_CHECK),
            code::SUCCESS
        );
        assert!(h.prompts.is_empty());
        let mut h = host(&["Tanuki42", "kappakappa", "kappakappa"]);
        assert_eq!(
            change_pin(&mut h, &settings, flag::UPDATE_AUTHTOK),
            code::AUTHTOK_ERR
        );
        assert!(
            h.errors[0].contains("must contain a digit"),
            "{:?}",
            h.errors
        );
        let mut h = host(&["Tanuki42", "Kappa2027", "Kappa2027"]);
        h.kept.insert(Kept::MustChangePin.name(), "1".into());
        assert_eq!(
            change_pin(&mut h, &settings, flag::UPDATE_AUTHTOK),
            code::SUCCESS
        );
        assert_eq!(h.kept(Kept::MustChangePin).as_deref(), Some("0"));
        match &daemon.requests.lock().unwrap()[4] {
            LoginRequest::ChangePin { old, new, .. } => {
                assert_eq!(old.expose(), "Tanuki42");
                assert_eq!(new.expose(), "Kappa2027");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(change_pin(&mut host(&[]), &settings, 0), code::SERVICE_ERR);
    }

    #[test]
    fn the_session_id_comes_from_logind_only() {
        let mut h = host(&[]);
        assert_eq!(session_id(&h), Err(NoSession::Unset));
        // A TTY is no logind session: no fallback to it.
        h.tty = Some("/dev/tty3".into());
        assert_eq!(session_id(&h), Err(NoSession::Unset));
        h.env.insert("XDG_SESSION_ID".into(), "c12".into());
        assert_eq!(session_id(&h).as_deref(), Ok("c12"));
        h.env.insert("XDG_SESSION_ID".into(), "a b".into());
        assert_eq!(session_id(&h), Err(NoSession::Unusable));
    }

    #[test]
    fn a_session_without_logind_is_refused_told_and_logged() {
        // Nothing may reach the daemon: its socket does not exist.
        let gone = Settings {
            terminal: Some("juki-01".into()),
            socket: PathBuf::from("/nonexistent/login.sock"),
            lang: Some(Lang::En),
            ..Settings::default()
        };
        let mut h = host(&[]);
        h.tty = Some("/dev/tty3\nforged log line".into());
        assert_eq!(open_session(&mut h, &gone, 0), code::SESSION_ERR);
        assert!(!h.logs[0].contains('\n'), "{:?}", h.logs);
        assert_eq!(h.errors.len(), 1, "{:?}", h.errors);
        assert!(h.errors[0].contains("No logind session"), "{:?}", h.errors);
        assert!(
            h.logs[0].contains("XDG_SESSION_ID") && h.logs[0].contains("tanaka"),
            "{:?}",
            h.logs
        );
        let mut settings = gone.clone();
        settings.lang = Some(Lang::Ja);
        let mut h = host(&[]);
        assert_eq!(open_session(&mut h, &settings, 0), code::SESSION_ERR);
        assert!(h.errors[0].contains("XDG_SESSION_ID"), "{:?}", h.errors);
        assert!(!h.errors[0].is_ascii(), "{:?}", h.errors);
        assert_eq!(close_session(&mut h, &settings, 0), code::SESSION_ERR);
    }

    #[test]
    fn sessions_open_and_close() {
        let daemon = FakeDaemon::start(
            "session",
            vec![
                Some(GRANTED),
                Some(r#"{"result":"denied","reason":"must_change_pin","message":"change it"}"#),
                Some(GRANTED),
                Some(r#"{"result":"error","message":"no such session"}"#),
            ],
        );
        let mut h = host(&[]);
        h.env.insert("XDG_SESSION_ID".into(), "c7".into());
        assert_eq!(open_session(&mut h, &daemon.settings(), 0), code::SUCCESS);
        assert_eq!(
            open_session(&mut h, &daemon.settings(), 0),
            code::SESSION_ERR
        );
        assert_eq!(close_session(&mut h, &daemon.settings(), 0), code::SUCCESS);
        assert_eq!(
            close_session(&mut h, &daemon.settings(), 0),
            code::SESSION_ERR
        );
        let sent = daemon.requests.lock().unwrap();
        assert_eq!(
            sent[0],
            LoginRequest::OpenSession {
                terminal: "juki-01".into(),
                user: "tanaka".into(),
                session_id: "c7".into()
            }
        );
        assert_eq!(sent[2].op(), "close_session");
    }
}
