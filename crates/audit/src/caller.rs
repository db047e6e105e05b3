//! Who is running this process, for the `by` of records written straight into the log by a
//! command-line tool (`cardgatectl card …`, `cardgatectl audit note`) while `cardgated` is not
//! running. The daemon attributes what it records to its peer's uid (SO_PEERCRED); this is the
//! same label, `uid 1001 (yamada)`, taken from the process itself.
//!
//! The uid is the *real* one (the first field of `Uid:` in `/proc/self/status`), not the
//! effective one: under a set-uid wrapper the record names the person who ran it, not the
//! wrapper's owner. The name comes from `/etc/passwd`, read as bytes, so that an odd byte in
//! someone's GECOS field cannot make the lookup fail (a name that is not UTF-8 is shown
//! lossily; an absent one is left out).

use std::io::Read;

use crate::record::Label;

/// The largest `/etc/passwd` read.
const MAX_PASSWD: u64 = 16 << 20;

/// The real uid of this process, from `/proc/self/status`.
pub fn real_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    real_uid_from_status(&status)
}

fn real_uid_from_status(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|real| real.parse().ok())
}

/// The name of `uid` in a passwd file's bytes.
fn name_in_passwd(passwd: &[u8], uid: u32) -> Option<String> {
    passwd.split(|&b| b == b'\n').find_map(|line| {
        let mut f = line.split(|&b| b == b':');
        let name = f.next()?;
        let _password = f.next()?;
        let id = std::str::from_utf8(f.next()?).ok()?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
    })
}

/// The user name of `uid` in `/etc/passwd`.
pub fn user_name(uid: u32) -> Option<String> {
    let mut bytes = Vec::new();
    std::fs::File::open("/etc/passwd")
        .ok()?
        .take(MAX_PASSWD)
        .read_to_end(&mut bytes)
        .ok()?;
    name_in_passwd(&bytes, uid)
}

/// `uid N (name)` for `uid` and `name`, as the daemon writes it; control characters in the
/// name become `?` and it is cut to fit a label.
pub fn label_for(uid: u32, name: Option<&str>) -> Label {
    let name: Option<String> = name.map(|n| {
        n.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .take(64)
            .collect()
    });
    let text = match name.filter(|n| !n.is_empty()) {
        Some(n) => format!("uid {uid} ({n})"),
        None => format!("uid {uid}"),
    };
    Label::new(text).unwrap_or_else(|_| Label::from_static("uid ?"))
}

/// This process's caller: `uid N (name)` with the real uid, or `uid ?` when `/proc` cannot
/// say (the record then still shows that nobody could be named).
pub fn label() -> Label {
    match real_uid() {
        Some(uid) => label_for(uid, user_name(uid).as_deref()),
        None => Label::from_static("uid ?"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_real_uid_is_the_first_field() {
        let status = "Name:\tcardgatectl\nUid:\t1001\t0\t0\t0\nGid:\t1001\t1001\t1001\t1001\n";
        assert_eq!(real_uid_from_status(status), Some(1001));
        assert_eq!(real_uid_from_status("Name:\tx\n"), None);
    }

    #[test]
    fn odd_bytes_in_passwd_do_not_stop_the_lookup() {
        let passwd =
            b"root:x:0:0:root:/root:/bin/sh\nodd:x:1000:1000:\xff\xfe:/home/odd:/bin/sh\nyamada:x:1001:1001::/home/y:/bin/sh\nbroken\n";
        assert_eq!(name_in_passwd(passwd, 1001).as_deref(), Some("yamada"));
        assert_eq!(name_in_passwd(passwd, 1000).as_deref(), Some("odd"));
        assert_eq!(name_in_passwd(passwd, 4242), None);
        assert_eq!(
            label_for(1001, Some("yamada")).as_str(),
            "uid 1001 (yamada)"
        );
        assert_eq!(label_for(7, None).as_str(), "uid 7");
        assert_eq!(label_for(7, Some("a\u{1b}b")).as_str(), "uid 7 (a?b)");
    }

    #[test]
    fn this_process_is_named() {
        let uid = real_uid().unwrap();
        assert!(label().as_str().starts_with(&format!("uid {uid}")));
    }
}
