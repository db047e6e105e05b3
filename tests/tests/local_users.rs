//! Local users as attackers, through the real daemon (`cardgated` as its own process, a
//! private pcscd with vpcd readers, software cards): a flood of idle connections from one uid,
//! an odd byte in `/etc/passwd`, and the PIN left in the daemon's memory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cardgate_tests::fixtures::PUK;
use cardgate_tests::{Office, PcscLab, SoftCardFile};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

fn office() -> Office {
    Office::standard(
        PcscLab::start().unwrap(),
        "[rate_limit]\nfree_failures = 3\n",
    )
    .unwrap()
}

/// A child process killed when the test ends, passing or not.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends one request line from a process of `uid` (python3, as PAM's client would send it)
/// and returns what came back.
fn ask_as(uid: u32, socket: &Path, request: &str) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import socket,sys\n\
             s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n\
             s.sendall(sys.argv[2].encode()+b'\\n')\n\
             out=b''\n\
             while True:\n\
             \x20   d=s.recv(4096)\n\
             \x20   if not d: break\n\
             \x20   out+=d\n\
             print(out.decode(errors='replace'))",
        )
        .arg(socket)
        .arg(request)
        .uid(uid)
        .gid(uid)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Root's request as the PAM module sends it, with a deadline; the answer and how long it
/// took.
fn ask_root_within(
    socket: &Path,
    request: &str,
    limit: Duration,
) -> (Result<Value, String>, Duration) {
    let start = Instant::now();
    let result = (|| {
        let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(limit))
            .map_err(|e| e.to_string())?;
        s.write_all(format!("{request}\n").as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)
            .map_err(|e| format!("no answer within {limit:?}: {e}"))?;
        serde_json::from_slice(&out)
            .map_err(|e| format!("{e}: {:?}", String::from_utf8_lossy(&out)))
    })();
    (result, start.elapsed())
}

/// Security finding 4 (issue 11): one uid holds 600 idle connections to the login socket;
/// root's probe, as PAM sends it, is still answered at once, and another uid is still served.
#[test]
fn idle_connections_of_one_uid_do_not_stop_roots_probe() {
    let office = office();
    let _daemon = office.start_daemon().unwrap();
    let socket = office.login_socket();
    // 600 connections that never send a byte, held open until told; then it counts how many
    // were answered "busy" at once.
    let mut flood = Guarded(
        Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(
                "import socket,sys,select,time\n\
                 socks=[]\n\
                 for i in range(int(sys.argv[2])):\n\
                 \x20   s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); socks.append(s)\n\
                 print('ready',flush=True)\n\
                 sys.stdin.readline()\n\
                 p=select.poll(); byfd={}\n\
                 for s in socks: p.register(s,select.POLLIN); byfd[s.fileno()]=s\n\
                 busy=0; end=time.time()+3\n\
                 while byfd and time.time()<end:\n\
                 \x20   for fd,ev in p.poll(100):\n\
                 \x20       s=byfd.pop(fd,None)\n\
                 \x20       if s is None: continue\n\
                 \x20       p.unregister(fd)\n\
                 \x20       try: d=s.recv(4096)\n\
                 \x20       except OSError: d=b''\n\
                 \x20       if b'busy' in d: busy+=1\n\
                 print('busy',busy,flush=True)\n\
                 sys.stdin.readline()",
            )
            .arg(&socket)
            .arg("600")
            .uid(NOBODY)
            .gid(NOBODY)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(flood.0.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");

    let probe = r#"{"op":"probe","terminal":"juki-01","user":"tanaka"}"#;
    let (answer, took) = ask_root_within(&socket, probe, Duration::from_secs(3));
    eprintln!("root's probe with 600 idle connections held by uid {NOBODY}: {took:?}");
    let answer = answer.unwrap();
    assert_eq!(answer["reason"], "no_card", "{answer}");
    assert!(took < Duration::from_secs(1), "root's probe took {took:?}");

    // Another uid is served while the first is over its cap.
    let start = Instant::now();
    let other = ask_as(
        1,
        &socket,
        r#"{"op":"probe","terminal":"juki-01","user":"daemon"}"#,
    );
    let other_took = start.elapsed();
    eprintln!("uid 1's probe meanwhile: {other_took:?}");
    let v: Value = serde_json::from_str(other.trim()).unwrap_or_else(|e| panic!("{e}: {other}"));
    assert!(v["result"] == "denied" && !other.contains("busy"), "{v}");

    // The flood's surplus was refused at once with a short error, not left waiting.
    let stdin = flood.0.stdin.as_mut().unwrap();
    stdin.write_all(b"count\n").unwrap();
    let counted = lines.next().unwrap().unwrap();
    let busy: usize = counted.strip_prefix("busy ").unwrap().parse().unwrap();
    assert!(busy >= 600 - 4, "{counted}");
}

/// The real passwd entries plus `extra`, and the real groups (without any `cardgate-admin`)
/// plus `extra_group`.
fn databases(dir: &Path, extra: &[u8], extra_group: &str) -> (PathBuf, PathBuf) {
    let mut passwd = std::fs::read("/etc/passwd").unwrap();
    passwd.extend_from_slice(extra);
    let passwd_path = dir.join("passwd");
    std::fs::write(&passwd_path, passwd).unwrap();
    let group: String = std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("cardgate-admin:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let group_path = dir.join("group");
    std::fs::write(&group_path, format!("{group}{extra_group}")).unwrap();
    (passwd_path, group_path)
}

/// Security finding 5 (issue 11): a GECOS field with a `\xff` byte (and a user whose very
/// name is not UTF-8) in the daemon's `/etc/passwd` stop nobody else: users and groups come
/// through NSS.
#[test]
fn an_odd_byte_in_passwd_locks_nobody_out() {
    let office = office();
    let (passwd, group) = databases(
        &office.dir,
        b"odd:x:4242:4242:Caf\xff Gecos,,,:/nonexistent:/usr/sbin/nologin\n\
          caf\xe9:x:4243:4243::/nonexistent:/usr/sbin/nologin\n",
        "cardgate-admin:x:4343:nobody\n",
    );
    // The daemon's own mount namespace sees these files as /etc/passwd and /etc/group (glibc
    // reads them through libnss_files); the host's are untouched.
    let daemon = office
        .start_daemon_in(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && shift 2 && exec \"$@\"",
            "sh",
            passwd.to_str().unwrap(),
            group.to_str().unwrap(),
        ])
        .unwrap();
    let pid = daemon.pid().unwrap();
    let seen = std::fs::read(format!("/proc/{pid}/root/etc/passwd")).unwrap();
    assert!(
        seen.windows(4).any(|w| w == b"\xff Ge"),
        "the bind mount is not in place"
    );
    let socket = office.login_socket();

    // A user's request for themself is served (the card is absent: no_card).
    for (uid, user) in [(NOBODY, "nobody"), (4242, "odd")] {
        let text = ask_as(
            uid,
            &socket,
            &format!(r#"{{"op":"probe","terminal":"juki-01","user":"{user}"}}"#),
        );
        assert!(
            !text.contains("only authenticate yourself"),
            "{uid}: {text}"
        );
        assert!(text.contains(r#""reason":"no_card""#), "{uid}: {text}");
    }
    // Still no one may act for another.
    let text = ask_as(
        NOBODY,
        &socket,
        r#"{"op":"probe","terminal":"juki-01","user":"tanaka"}"#,
    );
    assert!(text.contains("only authenticate yourself"), "{text}");
    // A name that is not UTF-8 matches no one, and says why.
    let text = ask_as(
        4243,
        &socket,
        "{\"op\":\"probe\",\"terminal\":\"juki-01\",\"user\":\"caf\u{fffd}\"}",
    );
    assert!(text.contains("not valid UTF-8"), "{text}");

    // A supplementary member of the admin group (getgrouplist) is let in by the daemon's own
    // check (the socket is opened up to show that check, not the file mode).
    std::fs::set_permissions(
        office.admin_socket(),
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let text = ask_as(NOBODY, &office.admin_socket(), r#"{"op":"status"}"#);
    assert!(text.contains(r#""result":"info""#), "{text}");
    let text = ask_as(1, &office.admin_socket(), r#"{"op":"status"}"#);
    assert!(
        text.contains("member of neither cardgate-admin nor cardgate-manager"),
        "{text}"
    );
}

/// Every place in `pid`'s readable memory where one of `needles` occurs: (mapping, address).
fn scan_memory(pid: &str, needles: &[&[u8]]) -> (Vec<String>, usize) {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut hits = Vec::new();
    let mut scanned = 0usize;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = line.split_whitespace().nth(5).unwrap_or("[anonymous]");
        if !perms.starts_with('r')
            || name == "[vvar]"
            || name == "[vsyscall]"
            || name == "[vvar_vclock]"
        {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let (start, end) = (
            u64::from_str_radix(start, 16).unwrap(),
            u64::from_str_radix(end, 16).unwrap(),
        );
        let mut region = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut region).is_err() {
            continue;
        }
        scanned += region.len();
        for needle in needles {
            for (i, w) in region.windows(needle.len()).enumerate() {
                if w == *needle {
                    hits.push(format!("{name} at {:#x}", start + i as u64));
                }
            }
        }
    }
    (hits, scanned)
}

/// The PIN as the card gets it (operator-card-v1: 16 bytes, ASCII right-padded with FF).
fn wire(pin: &str) -> Vec<u8> {
    let mut w = pin.as_bytes().to_vec();
    w.resize(16, 0xFF);
    w
}

/// Security finding 6 (issue 11): after a real login and a PIN change through the login
/// socket, no PIN (right, wrong or new; as text, lower-cased or in its wire form) is left
/// anywhere in the daemon's memory, and the daemon is not dumpable (no core file, where a
/// dumpable process leaves one).
#[test]
fn no_pin_is_left_in_the_daemons_memory_after_a_login() {
    // Distinctive, so that no hit is by chance.
    const PIN: &str = "Qz7Vw3Kx9Jm2";
    const WRONG: &str = "Wq4Zr8Tn2Yx6";
    const NEW: &str = "Hx5Bn8Lc3Pd7";
    let office = office();
    let card =
        SoftCardFile::personalised(&office.lab, &office.issuer, "op-0042", PIN, PUK).unwrap();
    let _inserted = office.lab.insert_card(0, &card).unwrap();
    let cores = office.dir.join("cores");
    std::fs::create_dir_all(&cores).unwrap();
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern")
            .unwrap()
            .trim(),
        "core",
        "this test reads core files from the working directory"
    );
    let mut daemon = office
        .start_daemon_in(&[
            "sh",
            "-c",
            "cd \"$1\" && ulimit -c unlimited && shift && exec \"$@\"",
            "sh",
            cores.to_str().unwrap(),
        ])
        .unwrap();
    let pid = daemon.pid().unwrap().to_string();

    // As the PAM module sends them: a probe, a wrong PIN, the right PIN, a PIN change.
    let probe = office
        .ask(r#"{"op":"probe","terminal":"juki-01","user":"tanaka"}"#)
        .unwrap();
    assert_eq!(probe["result"], "ready", "{probe}");
    for (pin, expected) in [(WRONG, "denied"), (PIN, "granted")] {
        let a = office
            .ask(&format!(
                r#"{{"op":"authenticate","terminal":"juki-01","user":"tanaka","pin":"{pin}"}}"#
            ))
            .unwrap();
        assert_eq!(a["result"], expected, "{a}");
    }
    let changed = office
        .ask(&format!(
            r#"{{"op":"change_pin","terminal":"juki-01","user":"tanaka","old":"{PIN}","new":"{NEW}"}}"#
        ))
        .unwrap();
    assert_eq!(changed["result"], "granted", "{changed}");
    // The connection's end (drain, close) is the daemon's last step with the request.
    std::thread::sleep(Duration::from_millis(500));

    // As typed, as the card gets them, and lower-cased (the PIN policy compares that way).
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for pin in [PIN, WRONG, NEW] {
        needles.push(pin.as_bytes().to_vec());
        needles.push(pin.to_ascii_lowercase().into_bytes());
        needles.push(wire(pin));
    }
    let needles: Vec<&[u8]> = needles.iter().map(Vec::as_slice).collect();
    // The scan finds a PIN where one is: in this process, which still holds both.
    let held = format!("{PIN}{WRONG}");
    let (mine, _) = scan_memory("self", &needles[..1]);
    assert!(
        mine.len() >= 2,
        "the scan cannot find a PIN that is there: {mine:?}"
    );
    drop(held);
    let (hits, scanned) = scan_memory(&pid, &needles);
    eprintln!("scanned {scanned} bytes of cardgated's memory");
    assert!(scanned > 1 << 20, "only {scanned} bytes scanned");
    assert!(hits.is_empty(), "a PIN is in cardgated's memory: {hits:?}");

    // Not dumpable: an abort leaves no core, where a dumpable process in the same place and
    // under the same limit leaves one.
    let control_dir = office.dir.join("control");
    std::fs::create_dir_all(&control_dir).unwrap();
    let mut control = Guarded(
        Command::new("sh")
            .arg("-c")
            .arg("cd \"$1\" && ulimit -c unlimited && exec sleep 30")
            .arg("sh")
            .arg(&control_dir)
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(200));
    for (who, target) in [
        ("control", control.0.id().to_string()),
        ("cardgated", pid.clone()),
    ] {
        // SIGABRT: Rust's own SIGSEGV handler would swallow a SIGSEGV sent with kill.
        let status = Command::new("kill")
            .args(["-ABRT", &target])
            .status()
            .unwrap();
        assert!(status.success(), "kill -ABRT {who}");
    }
    control.0.wait().unwrap();
    let start = Instant::now();
    while daemon.is_running() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "cardgated survived SIGABRT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        control_dir.join("core").exists(),
        "the control left no core: the check cannot work"
    );
    assert!(
        !cores.join("core").exists(),
        "cardgated is dumpable: it left a core file"
    );
}
