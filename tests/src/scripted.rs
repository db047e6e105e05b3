//! Scripted days on the real stack, for the access manager's review (art. 7) to be tested on
//! logs that only the daemon wrote.
//!
//! Each script builds an office of two terminals ([`TERMINAL`] on lab slot 0, [`TERMINAL_2`]
//! on slot 2; slot 1 is the access manager's desk where blank cards are issued, slot 3 the
//! manager's own card), starts the real `cardgated`, and plays out what people do: cards
//! issued, returned and revoked with the real `cardgatectl`, logins, PIN changes, unlocks and
//! logouts through a real PAM stack (`pamtester` with the built `pam_cardgate.so`), cards
//! pulled and put back through the private pcscd. Nothing is written into the log by the
//! script itself: the records are the daemon's (and `cardgatectl`'s, through the daemon).
//!
//! The dates are those of the script, not of the machine: `cardgated` and `cardgatectl` run
//! under libfaketime (Debian package `faketime`), `LD_PRELOAD=libfaketimeMT.so.1` with
//! `FAKETIME_TIMESTAMP_FILE` naming a file that holds `@YYYY-MM-DD hh:mm:ss` (UTC),
//! `FAKETIME_NO_CACHE=1` so that each change of the file is seen at once, and
//! `FAKETIME_DONT_FAKE_MONOTONIC=1` so that the monotonic clock (tokio's timers, back-offs,
//! the pending login's wait) keeps real time. The binaries are the real ones; only their wall
//! clock is shifted, and only forward ([`ScriptClock::set`] refuses to go back). The set-up
//! (issuer, audit log, revocation list) already runs at the script's time.
//!
//! Each script returns the office (its directory holds the log), the log directories the
//! daemon wrote, and the findings the script contains ([`Expected`]): what the review must
//! report on those logs, and nothing else.
//!
//! 日本語: 実物の構成（pcscd、vpcd、ソフトウェアカード、cardgated、pamtester、cardgatectl）で
//! 一日と一か月（2026年11月）の業務を再現し、デーモン自身が書いた監査ログと、レビューが
//! 報告すべき所見の一覧を返す。日付は libfaketime で進める（壁時計のみ、前進のみ）。

use crate::fixtures::{
    INITIAL_PIN, NEW_PIN, OPERATOR, OPERATOR_2, PUK, TERMINAL, TERMINAL_2, USER, USER_2,
};
use crate::pamtester::{pamtester, service_file, Finished};
use crate::{CardProcess, HarnessError, Office, PcscLab, SoftCardFile, TerminalSpec, LIMIT};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Where Debian puts libfaketime (package `faketime`, through `libfaketime`): its threaded
/// build, `libfaketimeMT`. `cardgated` reads the clock from several threads at once, and the
/// plain build's unsynchronised cache of the timestamp file then now and then answers the
/// real time: one record of the scripted day came out dated the real day, and every later
/// one with it (the log's times never go back), under the load of the whole suite.
const LIBFAKETIME: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
];

/// The office's legal time: Japan Standard Time (the daemon's default `utc_offset_minutes`).
const JST_SECONDS: i32 = 9 * 3600;

/// The business hours of the scripted office, as in `cardgated.toml` (Monday to Friday).
pub const BUSINESS_HOURS: &str = "[business_hours]\nstart = \"08:30\"\nend = \"17:15\"\n";

/// What kind of finding the review must report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// Use outside business hours: a session that started outside them or ran past their end,
    /// or an attempt the daemon refused out of hours (recorded with its reason,
    /// `outside_business_hours`, and the card); a weekend counts (the office works Monday to
    /// Friday).
    OutsideHours,
    /// A login on a national holiday.
    Holiday,
    /// A burst of wrong PINs on one card at one terminal.
    PinBurst,
    /// One operator with sessions open on two terminals at once (at the second login).
    TwoTerminals,
    /// A card presented after it was returned.
    UseAfterReturn,
    /// A revoked card presented.
    RevokedCard,
}

impl FindingKind {
    /// A short name for messages (`outside_hours`, …).
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::OutsideHours => "outside_hours",
            FindingKind::Holiday => "holiday",
            FindingKind::PinBurst => "pin_burst",
            FindingKind::TwoTerminals => "two_terminals",
            FindingKind::UseAfterReturn => "use_after_return",
            FindingKind::RevokedCard => "revoked_card",
        }
    }
}

/// One finding the script contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// What.
    pub kind: FindingKind,
    /// The terminal, as configured (`[[terminal]]` id).
    pub terminal: String,
    /// The card serial (16 hex digits).
    pub card: String,
    /// The card's operator ID.
    pub operator: String,
    /// When the script did it (UTC). The daemon's record is within [`SLACK`] after.
    pub at: OffsetDateTime,
}

/// How long after [`Expected::at`] the daemon's record may be: a step of the script runs in
/// real time from the moment its clock was set (a pamtester run, a card inserted).
pub const SLACK: Duration = Duration::from_secs(60);

/// What a script leaves behind.
#[derive(Debug)]
pub struct Scripted {
    /// The office (its directory holds the log; dropping it stops pcscd and removes it).
    pub office: Office,
    /// The log directories the daemon wrote.
    pub log_dirs: Vec<PathBuf>,
    /// The findings the script contains, in time order.
    pub findings: Vec<Expected>,
    /// The cards the script used, by name (`a`, `a-old`, `b`, …) and serial.
    pub cards: Vec<(String, String)>,
    /// Every session the script opened and closed: (terminal, session ID).
    pub sessions: Vec<(String, String)>,
    /// How many times the script unlocked a locked session (a pull, then the card put back).
    pub unlocks: usize,
}

impl Scripted {
    /// The serial of the card the script called `name`.
    pub fn card(&self, name: &str) -> Option<&str> {
        self.cards
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
    }
}

/// A time of the office's day (JST) as UTC.
pub fn jst(year: i32, month: u8, day: u8, hour: u8, minute: u8) -> OffsetDateTime {
    let month = Month::try_from(month).unwrap_or(Month::January);
    let date = Date::from_calendar_date(year, month, day).unwrap_or(Date::MIN);
    let time = Time::from_hms(hour, minute, 0).unwrap_or(Time::MIDNIGHT);
    let offset = UtcOffset::from_whole_seconds(JST_SECONDS).unwrap_or(UtcOffset::UTC);
    PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .to_offset(UtcOffset::UTC)
}

/// The wall clock of the office's `cardgated` and `cardgatectl`: libfaketime's timestamp
/// file, moved only forward.
#[derive(Debug)]
pub struct ScriptClock {
    file: PathBuf,
    fake: OffsetDateTime,
    since: Instant,
}

impl ScriptClock {
    /// A clock at `start`, kept in `file`.
    pub fn new(file: PathBuf, start: OffsetDateTime) -> Result<Self, HarnessError> {
        let clock = ScriptClock {
            file,
            fake: start,
            since: Instant::now(),
        };
        clock.write(start)?;
        Ok(clock)
    }

    /// The environment that puts a program on this clock.
    pub fn env(&self) -> Result<Vec<(String, String)>, HarnessError> {
        let lib = LIBFAKETIME.iter().find(|p| Path::new(p).is_file()).ok_or(
            HarnessError::MissingProgram {
                program: "libfaketimeMT.so.1",
                package: "faketime",
            },
        )?;
        Ok(vec![
            ("LD_PRELOAD".into(), (*lib).into()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                self.file.to_string_lossy().into_owned(),
            ),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
            // The timestamp file is read in the program's local time zone: UTC, always.
            ("TZ".into(), "UTC".into()),
        ])
    }

    /// What the clock says now (it runs in real time from the last setting).
    pub fn now(&self) -> OffsetDateTime {
        self.fake + self.since.elapsed()
    }

    /// Moves the clock to `at`, which must be later than now: the log's times only go forward.
    pub fn set(&mut self, at: OffsetDateTime) -> Result<(), HarnessError> {
        let now = self.now();
        if at <= now {
            return Err(HarnessError::CommandFailed {
                what: "the scripted clock".into(),
                detail: format!("{at} is not after {now}: the script's time only moves forward"),
            });
        }
        self.write(at)?;
        self.fake = at;
        self.since = Instant::now();
        Ok(())
    }

    fn write(&self, at: OffsetDateTime) -> Result<(), HarnessError> {
        let at = at.to_offset(UtcOffset::UTC);
        let text = format!(
            "@{:04}-{:02}-{:02} {:02}:{:02}:{:02}\n",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        // Written aside and renamed: libfaketime re-reads the file at every clock call and
        // must never see it half written (an empty spec would be the real time).
        let tmp = self.file.with_extension("tmp");
        let io = |source| HarnessError::Io {
            what: "cannot write",
            path: self.file.clone(),
            source,
        };
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &self.file).map_err(io)
    }
}

/// One terminal's desk: its PAM service and its reader's slot.
struct Desk {
    terminal: &'static str,
    slot: usize,
    service: PathBuf,
}

/// The script's state: the office, its clock and what it has done so far.
struct Script {
    office: Office,
    clock: ScriptClock,
    desks: [Desk; 2],
    findings: Vec<Expected>,
    cards: Vec<(String, String)>,
    sessions: Vec<(String, String)>,
    unlocks: usize,
    daemon: Option<crate::Daemon>,
}

fn failed(what: String, run: &Finished) -> HarnessError {
    HarnessError::CommandFailed {
        what,
        detail: format!("{}: {}{}", run.status, run.stdout, run.stderr),
    }
}

impl Script {
    /// An office of two terminals at `start` (JST business hours, Monday to Friday), its
    /// daemon running.
    fn start(start: OffsetDateTime) -> Result<Script, HarnessError> {
        let lab = PcscLab::with_readers(4)?;
        let clock = ScriptClock::new(lab.work_dir().join("faketime"), start)?;
        let env = clock.env()?;
        let office = Office::with_env(
            lab,
            &[
                TerminalSpec {
                    id: TERMINAL,
                    slot: 0,
                },
                TerminalSpec {
                    id: TERMINAL_2,
                    slot: 2,
                },
            ],
            &[(OPERATOR, USER), (OPERATOR_2, USER_2)],
            // Every wrong PIN reaches the card (its own three tries are what counts here);
            // the daemon's back-off has its own tests.
            &format!("{BUSINESS_HOURS}[rate_limit]\nfree_failures = 10\n"),
            env,
        )?;
        let socket = office.login_socket();
        let desk = |terminal: &'static str, slot: usize| -> Result<Desk, HarnessError> {
            let args = format!(
                "terminal={terminal} socket={} wait=5 lang=en",
                socket.display()
            );
            let service = service_file(&office.dir, &format!("cardgate-{terminal}"), &args)?;
            Ok(Desk {
                terminal,
                slot,
                service,
            })
        };
        let desks = [desk(TERMINAL, 0)?, desk(TERMINAL_2, 2)?];
        let daemon = office.start_daemon()?;
        Ok(Script {
            office,
            clock,
            desks,
            findings: Vec::new(),
            cards: Vec::new(),
            sessions: Vec::new(),
            unlocks: 0,
            daemon: Some(daemon),
        })
    }

    fn at(&mut self, at: OffsetDateTime) -> Result<(), HarnessError> {
        self.clock.set(at)
    }

    fn desk(&self, terminal: &str) -> &Desk {
        if terminal == self.desks[1].terminal {
            &self.desks[1]
        } else {
            &self.desks[0]
        }
    }

    fn serial(&self, name: &str) -> String {
        self.cards
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    fn expect(&mut self, kind: FindingKind, terminal: &str, card: &str, operator: &str) {
        let at = self.clock.fake;
        self.expect_at(kind, terminal, card, operator, at);
    }

    /// A finding at a time before now (a session's start, known once it ran past hours).
    fn expect_at(
        &mut self,
        kind: FindingKind,
        terminal: &str,
        card: &str,
        operator: &str,
        at: OffsetDateTime,
    ) {
        let finding = Expected {
            kind,
            terminal: terminal.to_owned(),
            card: self.serial(card),
            operator: operator.to_owned(),
            at,
        };
        self.findings.push(finding);
    }

    /// The access manager lends a blank card to `operator` at the desk (slot 1) with
    /// `cardgatectl card issue`; the card leaves the desk's reader, issued, with the initial
    /// PIN. The script calls it `name`.
    fn issue(&mut self, name: &str, operator: &str) -> Result<SoftCardFile, HarnessError> {
        let blank = SoftCardFile::blank(&self.office.lab, &format!("card-{name}"), PUK)?;
        let mut inserted = self.office.lab.insert_card(1, &blank)?;
        let reader = self
            .office
            .lab
            .reader(1)
            .ok_or(HarnessError::ReaderCount(2))?
            .to_owned();
        let serial = self
            .office
            .issue_card(&reader, operator, PUK, INITIAL_PIN)?;
        inserted.remove()?;
        self.office.lab.wait_for_no_card(1)?;
        self.cards.push((name.to_owned(), serial));
        Ok(blank)
    }

    /// The revocation list version the daemon has in force.
    fn list_version(&self) -> Result<Option<u64>, HarnessError> {
        let status = Office::ask_on(&self.office.admin_socket(), r#"{"op":"status"}"#)?;
        Ok(status["data"]["revocation_list_version"].as_u64())
    }

    /// Runs `change` (a `cardgatectl` command that signs a new list) and waits until the
    /// daemon has the new list in force.
    fn new_list(
        &mut self,
        change: impl FnOnce(&Office) -> Result<String, HarnessError>,
    ) -> Result<(), HarnessError> {
        let before = self.list_version()?;
        change(&self.office)?;
        let start = Instant::now();
        while self.list_version()? == before {
            if start.elapsed() > LIMIT {
                return Err(HarnessError::Timeout(
                    "the daemon to take the new revocation list".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn revoke(&mut self, name: &str, reason: &str) -> Result<(), HarnessError> {
        let serial = self.serial(name);
        self.new_list(|o| o.revoke_card(&serial, reason))
    }

    fn give_back(&mut self, name: &str) -> Result<(), HarnessError> {
        let serial = self.serial(name);
        self.new_list(|o| {
            let issuer = o.path("issuer");
            o.ctl_ok(
                &["card", "return", &serial, "--issuer-dir", &issuer, "--yes"],
                "",
            )
        })
    }

    /// The weekly refresh of the revocation list (its next update is 7 days on).
    fn refresh_list(&mut self) -> Result<(), HarnessError> {
        self.new_list(|o| {
            let (issuer, list) = (o.path("issuer"), o.path("state/revoked.crl"));
            o.ctl_ok(
                &[
                    "revocation",
                    "refresh",
                    "--issuer-dir",
                    &issuer,
                    "--list",
                    &list,
                ],
                "",
            )
        })
    }

    fn insert(&self, terminal: &str, card: &SoftCardFile) -> Result<CardProcess, HarnessError> {
        self.office.lab.insert_card(self.desk(terminal).slot, card)
    }

    fn pull(&self, card: &mut CardProcess) -> Result<(), HarnessError> {
        let slot = card.slot();
        card.remove()?;
        self.office.lab.wait_for_no_card(slot)
    }

    fn pam(
        &self,
        terminal: &str,
        user: &str,
        session: &str,
        ops: &[&str],
        answers: &[&str],
    ) -> Result<Finished, HarnessError> {
        let env = format!("XDG_SESSION_ID={session}");
        pamtester(&self.desk(terminal).service, user, &[&env], ops, answers)
    }

    fn pam_ok(
        &self,
        terminal: &str,
        user: &str,
        session: &str,
        ops: &[&str],
        answers: &[&str],
    ) -> Result<(), HarnessError> {
        let run = self.pam(terminal, user, session, ops, answers)?;
        if !run.status.success() {
            return Err(failed(
                format!("pamtester {ops:?} for {user} on {terminal}"),
                &run,
            ));
        }
        Ok(())
    }

    fn pam_refused(
        &self,
        terminal: &str,
        user: &str,
        ops: &[&str],
        answers: &[&str],
    ) -> Result<(), HarnessError> {
        let run = self.pam(terminal, user, "c0", ops, answers)?;
        if run.status.success() {
            return Err(failed(
                format!("pamtester {ops:?} for {user} on {terminal} (must be refused)"),
                &run,
            ));
        }
        Ok(())
    }

    /// A first login with an issued card: the initial PIN, changed to [`NEW_PIN`], then the
    /// session.
    fn first_login(
        &mut self,
        terminal: &str,
        user: &str,
        session: &str,
    ) -> Result<(), HarnessError> {
        self.pam_ok(
            terminal,
            user,
            session,
            &["authenticate", "chauthtok", "open_session"],
            &[INITIAL_PIN, INITIAL_PIN, NEW_PIN, NEW_PIN],
        )?;
        self.sessions
            .push((terminal.to_owned(), session.to_owned()));
        Ok(())
    }

    fn login(&mut self, terminal: &str, user: &str, session: &str) -> Result<(), HarnessError> {
        self.pam_ok(
            terminal,
            user,
            session,
            &["authenticate", "acct_mgmt", "open_session"],
            &[NEW_PIN],
        )?;
        self.sessions
            .push((terminal.to_owned(), session.to_owned()));
        Ok(())
    }

    fn logout(&self, terminal: &str, user: &str, session: &str) -> Result<(), HarnessError> {
        self.pam_ok(terminal, user, session, &["close_session"], &[])
    }

    fn wrong_pin(&self, terminal: &str, user: &str) -> Result<(), HarnessError> {
        self.pam_refused(terminal, user, &["authenticate"], &["Kappa2099"])
    }

    fn calls(&self, call: &str) -> usize {
        self.office
            .loginctl_calls()
            .iter()
            .filter(|c| *c == call)
            .count()
    }

    fn wait_calls(&self, call: &str, n: usize) -> Result<(), HarnessError> {
        let start = Instant::now();
        while self.calls(call) < n {
            if start.elapsed() > LIMIT {
                return Err(HarnessError::Timeout(format!(
                    "`loginctl {call}` #{n} (calls so far: {:?})",
                    self.office.loginctl_calls()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Pulls the card of `session`'s terminal and waits for the lock.
    fn pull_locks(&self, card: &mut CardProcess, session: &str) -> Result<(), HarnessError> {
        let call = format!("lock-session {session}");
        let n = self.calls(&call) + 1;
        self.pull(card)?;
        self.wait_calls(&call, n)
    }

    /// The card put back in, the PIN (the screen locker's PAM `authenticate`): the session
    /// unlocks.
    fn unlock(&mut self, terminal: &str, user: &str, session: &str) -> Result<(), HarnessError> {
        let call = format!("unlock-session {session}");
        let n = self.calls(&call) + 1;
        self.pam_ok(terminal, user, session, &["authenticate"], &[NEW_PIN])?;
        self.wait_calls(&call, n)?;
        self.unlocks += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<Scripted, HarnessError> {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.stop();
        }
        self.findings.sort_by_key(|f| f.at);
        Ok(Scripted {
            log_dirs: vec![self.office.dir.join("audit")],
            office: self.office,
            findings: self.findings,
            cards: self.cards,
            sessions: self.sessions,
            unlocks: self.unlocks,
        })
    }
}

/// One office day, Wednesday 2026-11-25, on two terminals with two operators (A:
/// [`OPERATOR`] = [`USER`], B: [`OPERATOR_2`] = [`USER_2`]):
///
/// * 08:05 A's old card is issued and, reported lost, revoked at 08:07; 08:10 A's new card
///   and 08:15 B's card are issued.
/// * 08:35 A's first login on juki-01 (PIN change), session c1; 08:45 B's on juki-02, c2;
///   09:55 B logs out and takes the card.
/// * 10:00 A pulls the card from juki-01 (c1 locks) and logs in on juki-02 (c3) while c1 is
///   still open: **one operator on two terminals at once**. 10:30 A logs out of juki-02,
///   10:35 puts the card back into juki-01 and unlocks c1.
/// * 11:00 A pulls the card, 11:03 puts it back, mistypes the PIN once, unlocks c1.
/// * 12:00 A logs out and takes the card.
/// * 13:00 B mistypes the PIN once on juki-02, then logs in (c4); 15:00 logs out, leaving
///   the card in the reader.
/// * 14:00 A's revoked old card is presented on juki-01: **a revoked card presented**.
/// * 16:00 three wrong PINs on B's card on juki-02 in a few seconds, the card blocks:
///   **a burst of wrong PINs**.
/// * 16:55 A logs in on juki-01 (c5) and works on past 17:15: the daemon locks the session
///   at the end of business hours, A logs out at 17:25: **a session outside business
///   hours**.
/// * 17:00 B's card is taken out and returned to the access manager.
/// * 19:30 A tries to log in on juki-01: refused by the daemon (`outside_business_hours`):
///   **an attempt outside business hours**.
pub fn scripted_day() -> Result<Scripted, HarnessError> {
    let day = |h, m| jst(2026, 11, 25, h, m);
    let mut s = Script::start(day(8, 0))?;
    s.at(day(8, 5))?;
    let a_old = s.issue("a-old", OPERATOR)?;
    s.at(day(8, 7))?;
    s.revoke("a-old", "lost")?;
    s.at(day(8, 10))?;
    let a = s.issue("a", OPERATOR)?;
    s.at(day(8, 15))?;
    let b = s.issue("b", OPERATOR_2)?;

    s.at(day(8, 35))?;
    let mut a_in = s.insert(TERMINAL, &a)?;
    s.first_login(TERMINAL, USER, "c1")?;
    s.at(day(8, 45))?;
    let mut b_in = s.insert(TERMINAL_2, &b)?;
    s.first_login(TERMINAL_2, USER_2, "c2")?;
    s.at(day(9, 55))?;
    s.logout(TERMINAL_2, USER_2, "c2")?;
    s.pull(&mut b_in)?;

    s.at(day(10, 0))?;
    s.pull_locks(&mut a_in, "c1")?;
    let mut a_in = s.insert(TERMINAL_2, &a)?;
    s.login(TERMINAL_2, USER, "c3")?;
    s.expect(FindingKind::TwoTerminals, TERMINAL_2, "a", OPERATOR);
    s.at(day(10, 30))?;
    s.logout(TERMINAL_2, USER, "c3")?;
    s.pull(&mut a_in)?;
    s.at(day(10, 35))?;
    let mut a_in = s.insert(TERMINAL, &a)?;
    s.unlock(TERMINAL, USER, "c1")?;

    s.at(day(11, 0))?;
    s.pull_locks(&mut a_in, "c1")?;
    s.at(day(11, 3))?;
    let mut a_in = s.insert(TERMINAL, &a)?;
    s.wrong_pin(TERMINAL, USER)?;
    s.unlock(TERMINAL, USER, "c1")?;
    s.at(day(12, 0))?;
    s.logout(TERMINAL, USER, "c1")?;
    s.pull(&mut a_in)?;

    s.at(day(13, 0))?;
    let mut b_in = s.insert(TERMINAL_2, &b)?;
    s.wrong_pin(TERMINAL_2, USER_2)?;
    s.login(TERMINAL_2, USER_2, "c4")?;

    s.at(day(14, 0))?;
    let mut old_in = s.insert(TERMINAL, &a_old)?;
    s.pam_refused(TERMINAL, USER, &["authenticate"], &[NEW_PIN])?;
    s.expect(FindingKind::RevokedCard, TERMINAL, "a-old", OPERATOR);
    s.pull(&mut old_in)?;

    s.at(day(15, 0))?;
    s.logout(TERMINAL_2, USER_2, "c4")?;

    s.at(day(16, 0))?;
    for _ in 0..3 {
        s.wrong_pin(TERMINAL_2, USER_2)?;
    }
    s.expect(FindingKind::PinBurst, TERMINAL_2, "b", OPERATOR_2);

    s.at(day(16, 55))?;
    let mut a_in = s.insert(TERMINAL, &a)?;
    s.login(TERMINAL, USER, "c5")?;
    s.expect(FindingKind::OutsideHours, TERMINAL, "a", OPERATOR);
    s.at(day(17, 0))?;
    s.pull(&mut b_in)?;
    s.give_back("b")?;
    s.at(day(17, 20))?;
    s.wait_calls("lock-session c5", 1)?;
    s.at(day(17, 25))?;
    s.logout(TERMINAL, USER, "c5")?;

    s.at(day(19, 30))?;
    s.pam_refused(TERMINAL, USER, &["authenticate"], &[NEW_PIN])?;
    s.expect(FindingKind::OutsideHours, TERMINAL, "a", OPERATOR);
    s.pull(&mut a_in)?;
    s.at(day(19, 40))?;
    s.finish()
}

/// A month, November 2026, on the same office: A on juki-01 and B on juki-02 on ordinary
/// working days (each a login at 09:00 and a logout), the revocation list refreshed every
/// Monday at 07:55, and:
///
/// * Tue 11-03 (文化の日) A logs in on juki-01 at 10:00: **a login on a national holiday**.
/// * Tue 11-10 A works until 17:45 (the daemon locks the session at 17:15): **a session
///   outside business hours**.
/// * Sat 11-14 B tries to log in on juki-02 at 10:00: refused by the daemon
///   (`outside_business_hours`): **an attempt outside business hours** (a weekend).
/// * Fri 11-20 17:10 B's card is returned.
/// * Mon 11-23 (勤労感謝の日) A logs in on juki-01 at 10:00: **a login on a national
///   holiday**.
/// * Tue 11-24 09:00 B's returned card is presented on juki-02: **use after return**; B is
///   lent a new card at 09:10 and logs in with it.
pub fn scripted_month() -> Result<Scripted, HarnessError> {
    let on = |d, h, m| jst(2026, 11, d, h, m);
    let mut s = Script::start(on(2, 7, 50))?;
    let mut session = 0u32;
    let mut next = move || {
        session += 1;
        format!("c{session}")
    };
    s.at(on(2, 8, 5))?;
    let a = s.issue("a", OPERATOR)?;
    s.at(on(2, 8, 10))?;
    let b = s.issue("b", OPERATOR_2)?;
    let _a_in = s.insert(TERMINAL, &a)?;
    let mut b_in = s.insert(TERMINAL_2, &b)?;
    s.at(on(2, 9, 0))?;
    let (ca, cb) = (next(), next());
    s.first_login(TERMINAL, USER, &ca)?;
    s.first_login(TERMINAL_2, USER_2, &cb)?;
    s.at(on(2, 17, 0))?;
    s.logout(TERMINAL, USER, &ca)?;
    s.logout(TERMINAL_2, USER_2, &cb)?;

    // An ordinary working day: both log in at 09:00 and out at 17:00 (A at `a_out`).
    let workday =
        |s: &mut Script, d: u8, next: &mut dyn FnMut() -> String, both: bool, a_out: (u8, u8)| {
            s.at(on(d, 9, 0))?;
            let (ca, cb) = (next(), next());
            s.login(TERMINAL, USER, &ca)?;
            if both {
                s.login(TERMINAL_2, USER_2, &cb)?;
            }
            s.at(on(d, a_out.0, a_out.1))?;
            if a_out > (17, 15) {
                // The daemon locks the session at the end of business hours.
                s.wait_calls(&format!("lock-session {ca}"), 1)?;
            }
            s.logout(TERMINAL, USER, &ca)?;
            if both {
                s.logout(TERMINAL_2, USER_2, &cb)?;
            }
            Ok::<(), HarnessError>(())
        };

    s.at(on(3, 10, 0))?;
    let c = next();
    s.login(TERMINAL, USER, &c)?;
    s.expect(FindingKind::Holiday, TERMINAL, "a", OPERATOR);
    s.at(on(3, 11, 0))?;
    s.logout(TERMINAL, USER, &c)?;

    workday(&mut s, 4, &mut next, true, (17, 0))?;
    s.at(on(9, 7, 55))?;
    s.refresh_list()?;
    workday(&mut s, 10, &mut next, false, (17, 45))?;
    s.expect_at(
        FindingKind::OutsideHours,
        TERMINAL,
        "a",
        OPERATOR,
        on(10, 9, 0),
    );

    s.at(on(14, 10, 0))?;
    s.pam_refused(TERMINAL_2, USER_2, &["authenticate"], &[NEW_PIN])?;
    s.expect(FindingKind::OutsideHours, TERMINAL_2, "b", OPERATOR_2);

    s.at(on(16, 7, 55))?;
    s.refresh_list()?;
    workday(&mut s, 16, &mut next, true, (17, 0))?;
    workday(&mut s, 20, &mut next, true, (17, 0))?;
    s.at(on(20, 17, 10))?;
    s.give_back("b")?;

    s.at(on(23, 7, 55))?;
    s.refresh_list()?;
    s.at(on(23, 10, 0))?;
    let c = next();
    s.login(TERMINAL, USER, &c)?;
    s.expect(FindingKind::Holiday, TERMINAL, "a", OPERATOR);
    s.at(on(23, 11, 0))?;
    s.logout(TERMINAL, USER, &c)?;

    // B kept the returned card and puts it in.
    s.at(on(24, 9, 0))?;
    s.pam_refused(TERMINAL_2, USER_2, &["authenticate"], &[NEW_PIN])?;
    s.expect(FindingKind::UseAfterReturn, TERMINAL_2, "b", OPERATOR_2);
    s.pull(&mut b_in)?;
    s.at(on(24, 9, 10))?;
    let b2 = s.issue("b2", OPERATOR_2)?;
    let _b_in = s.insert(TERMINAL_2, &b2)?;
    s.at(on(24, 9, 20))?;
    let c = next();
    s.first_login(TERMINAL_2, USER_2, &c)?;
    s.at(on(24, 17, 0))?;
    s.logout(TERMINAL_2, USER_2, &c)?;

    s.at(on(30, 7, 55))?;
    s.refresh_list()?;
    workday(&mut s, 30, &mut next, true, (17, 0))?;
    s.at(on(30, 17, 30))?;
    s.finish()
}
