//! Who is running this process, for the `by` of records written straight into the log by a
//! command-line tool (`cardgatectl card …`, `cardgatectl audit note`) while `cardgated` is not
//! running. The daemon attributes what it records to its peer's uid (SO_PEERCRED); this is the
//! same label, `uid 1001 (yamada)`, taken from the process itself.
//!
//! The uid is the *real* one (`getuid(2)`), not the effective one: under a set-uid wrapper the
//! record names the person who ran it, not the wrapper's owner. The name comes from the name
//! service (`getpwuid_r` through the `nix` crate), so that a user known only to SSSD or LDAP
//! is named as a local one is (issue 15: it used to be read from `/etc/passwd` alone). Only
//! the name is used: an odd byte in any other field cannot make the lookup fail, a name that
//! is not UTF-8 is shown lossily, and an absent one (or a failing name service) is left out:
//! the uid alone still says who it was.

use nix::unistd::{getuid, Uid, User};

use crate::record::Label;

/// The real uid of this process.
pub fn real_uid() -> Option<u32> {
    Some(getuid().as_raw())
}

/// The user name of `uid` in the name service.
pub fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .filter(|n| !n.is_empty())
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

/// This process's caller: `uid N (name)` with the real uid (`uid N` alone when the name
/// service knows no name for it).
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
    fn the_real_uid_is_the_kernels() {
        // The first field of `Uid:` is the real uid.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let real: u32 = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            .and_then(|r| r.parse().ok())
            .unwrap();
        assert_eq!(real_uid(), Some(real));
    }

    #[test]
    fn names_come_from_the_name_service() {
        // root and nobody are in every Debian passwd database.
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(65534).as_deref(), Some("nobody"));
        assert_eq!(user_name(4_000_000_000), None);
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
