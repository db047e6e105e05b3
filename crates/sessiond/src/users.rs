//! Local users and groups, read from `/etc/passwd` and `/etc/group` (no NSS, no unsafe code:
//! a Juki-net terminal has local accounts only).

use std::path::Path;

/// The name of a uid, from a passwd file.
pub fn user_name(passwd: &Path, uid: u32) -> Option<String> {
    let text = std::fs::read_to_string(passwd).ok()?;
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// Is `uid` root, or a member of `group` (as primary group or listed member)?
pub fn in_group(passwd: &Path, group_file: &Path, uid: u32, group: &str) -> bool {
    if uid == 0 {
        return true;
    }
    let Some(name) = user_name(passwd, uid) else {
        return false;
    };
    let Ok(groups) = std::fs::read_to_string(group_file) else {
        return false;
    };
    let Some((gid, members)) = groups.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() == 4 && f[0] == group).then(|| (f[2].parse::<u32>().ok(), f[3]))
    }) else {
        return false;
    };
    if members.split(',').any(|m| m == name) {
        return true;
    }
    let primary = std::fs::read_to_string(passwd).ok().and_then(|text| {
        text.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() >= 4 && f[0] == name)
                .then(|| f[3].parse::<u32>().ok())
                .flatten()
        })
    });
    gid.is_some() && primary == gid
}

/// The gid of a group.
pub fn group_id(group_file: &Path, group: &str) -> Option<u32> {
    let groups = std::fs::read_to_string(group_file).ok()?;
    groups.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() == 4 && f[0] == group)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let dir = std::env::temp_dir().join(format!("cardgate-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let passwd = dir.join("passwd");
        let group = dir.join("group");
        std::fs::write(&passwd, "root:x:0:0::/root:/bin/sh\ntanaka:x:1001:1001::/home/tanaka:/bin/sh\nsato:x:1002:900::/home/sato:/bin/sh\nbad line\n").unwrap();
        std::fs::write(&group, "root:x:0:\ncardgate-admin:x:900:tanaka\n").unwrap();
        assert_eq!(user_name(&passwd, 1001).as_deref(), Some("tanaka"));
        assert_eq!(user_name(&passwd, 4242), None);
        assert!(in_group(&passwd, &group, 1001, "cardgate-admin"));
        assert!(
            in_group(&passwd, &group, 1002, "cardgate-admin"),
            "primary group"
        );
        assert!(in_group(&passwd, &group, 0, "cardgate-admin"));
        assert!(!in_group(&passwd, &group, 4242, "cardgate-admin"));
        assert_eq!(group_id(&group, "cardgate-admin"), Some(900));
    }
}
