//! Users and groups through the C library's NSS (`getpwuid_r`, `getgrnam_r`,
//! `getgrouplist`, by way of the `nix` crate): local files, SSSD and LDAP alike, with no
//! parser of our own and no unsafe code of ours.
//!
//! Nothing here reads a field it does not need, so a stray byte in someone's GECOS field (or
//! any other field) cannot stop anyone else. A user whose *own name* is not valid UTF-8
//! cannot be matched to a configured operator (configured names are UTF-8 text): for them
//! [`user_name`] says [`UserError::NotUtf8`], and everyone else is unaffected.

use nix::unistd::{getgrouplist, Gid, Group, Uid, User};
use std::ffi::CString;

/// Why a user or group could not be looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// The name service has no such uid.
    #[error("uid {uid} is not known to the name service")]
    UnknownUid {
        /// The uid.
        uid: u32,
    },
    /// The name of the uid is not valid UTF-8, so it matches no configured user.
    #[error("the name of uid {uid} is not valid UTF-8; it matches no configured user")]
    NotUtf8 {
        /// The uid.
        uid: u32,
    },
    /// The name service failed (SSSD down, a file unreadable, …).
    #[error("the name service failed looking up {what}: {errno}")]
    Lookup {
        /// What was looked up (`uid 1001`, `group cardgate-admin`).
        what: String,
        /// The C library's error.
        errno: nix::errno::Errno,
    },
}

/// The name of a uid.
pub fn user_name(uid: u32) -> Result<String, UserError> {
    Ok(lookup_uid(uid)?.name)
}

fn lookup_uid(uid: u32) -> Result<User, UserError> {
    let user = User::from_uid(Uid::from_raw(uid))
        .map_err(|errno| UserError::Lookup {
            what: format!("uid {uid}"),
            errno,
        })?
        .ok_or(UserError::UnknownUid { uid })?;
    // nix turns a name that is not UTF-8 into U+FFFD replacement characters: two different
    // names could then look alike, so such a name is matched to nobody.
    if user.name.contains(char::REPLACEMENT_CHARACTER) {
        return Err(UserError::NotUtf8 { uid });
    }
    Ok(user)
}

/// The gid of a group, `None` when the name service has no such group.
pub fn group_id(group: &str) -> Result<Option<u32>, UserError> {
    Group::from_name(group)
        .map(|g| g.map(|g| g.gid.as_raw()))
        .map_err(|errno| UserError::Lookup {
            what: format!("group {group}"),
            errno,
        })
}

/// Does the name service know a user of this name (files, SSSD, LDAP alike)?
pub fn user_exists(name: &str) -> Result<bool, UserError> {
    User::from_name(name)
        .map(|u| u.is_some())
        .map_err(|errno| UserError::Lookup {
            what: format!("user {name}"),
            errno,
        })
}

/// Is `uid` root, or a member of `group` (as primary group or supplementary, as
/// `getgrouplist` reports it)? A name-service failure is an error, never a yes.
pub fn in_group(uid: u32, group: &str) -> Result<bool, UserError> {
    if uid == 0 {
        return Ok(true);
    }
    let Some(gid) = group_id(group)? else {
        return Ok(false);
    };
    let user = match lookup_uid(uid) {
        Ok(user) => user,
        Err(UserError::UnknownUid { .. } | UserError::NotUtf8 { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    if user.gid.as_raw() == gid {
        return Ok(true);
    }
    let Ok(name) = CString::new(user.name.as_bytes()) else {
        return Ok(false);
    };
    let groups = getgrouplist(&name, user.gid).map_err(|errno| UserError::Lookup {
        what: format!("the groups of uid {uid}"),
        errno,
    })?;
    Ok(groups.contains(&Gid::from_raw(gid)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lookups_through_nss() {
        // root and nobody are in every Debian passwd and group database.
        assert_eq!(user_name(0).unwrap(), "root");
        assert_eq!(user_name(65534).unwrap(), "nobody");
        assert_eq!(
            user_name(4_000_000_000),
            Err(UserError::UnknownUid { uid: 4_000_000_000 })
        );
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert!(user_exists("root").unwrap());
        assert!(!user_exists("no-such-user-cardgate").unwrap());
        assert_eq!(group_id("no-such-group-cardgate").unwrap(), None);
        assert!(in_group(0, "no-such-group-cardgate").unwrap());
        assert!(!in_group(65534, "no-such-group-cardgate").unwrap());
        assert!(!in_group(65534, "root").unwrap());
        // nogroup is nobody's primary group.
        assert!(in_group(65534, "nogroup").unwrap());
        assert!(!in_group(4_000_000_000, "nogroup").unwrap());
    }
}
