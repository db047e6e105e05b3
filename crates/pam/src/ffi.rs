//! The only unsafe code of the module: the Linux-PAM declarations (written by hand from
//! `<security/_pam_types.h>` and `<security/pam_modules.h>`; the few we need are a stable C
//! ABI, and no binding crate is needed for them), the exported `pam_sm_*` entry points, and
//! [`PamHost`], which implements [`Host`] over a `pam_handle_t`.
//!
//! Every entry point runs its body under `catch_unwind`: a panic never unwinds into the C
//! caller and becomes `PAM_SYSTEM_ERR` (never success).
#![allow(unsafe_code)]

use crate::args::Settings;
use crate::codes::code;
use crate::flows::{self, Host, Kept};
use crate::syslog::{self, Priority};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use zeroize::{Zeroize, Zeroizing};

/// `pam_handle_t`, opaque.
#[repr(C)]
pub struct PamHandle {
    _private: [u8; 0],
}

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

type CleanupFn = unsafe extern "C" fn(pamh: *mut PamHandle, data: *mut c_void, error_status: c_int);

const PAM_TTY: c_int = 3;
const PAM_CONV: c_int = 5;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
/// PAM_MAX_RESP_SIZE: no PIN is longer.
const MAX_REPLY: usize = 512;

#[link(name = "pam")]
extern "C" {
    fn pam_get_user(pamh: *mut PamHandle, user: *mut *const c_char, prompt: *const c_char)
        -> c_int;
    fn pam_get_item(pamh: *const PamHandle, item_type: c_int, item: *mut *const c_void) -> c_int;
    fn pam_getenv(pamh: *mut PamHandle, name: *const c_char) -> *const c_char;
    fn pam_set_data(
        pamh: *mut PamHandle,
        module_data_name: *const c_char,
        data: *mut c_void,
        cleanup: Option<CleanupFn>,
    ) -> c_int;
    fn pam_get_data(
        pamh: *const PamHandle,
        module_data_name: *const c_char,
        data: *mut *const c_void,
    ) -> c_int;
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
}

extern "C" {
    fn free(ptr: *mut c_void);
}

/// A borrowed C string, copied out as UTF-8 (lossy: these are names, never secrets).
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string that stays valid for this call.
unsafe fn owned(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated and valid by this function's contract.
    let s = unsafe { CStr::from_ptr(ptr) };
    Some(s.to_string_lossy().into_owned())
}

/// The PAM handle as the flows see it.
pub struct PamHost {
    pamh: *mut PamHandle,
}

impl PamHost {
    fn conversation(&self, style: c_int, text: &str) -> Result<Option<Zeroizing<String>>, i32> {
        let mut item: *const c_void = std::ptr::null();
        // SAFETY: `pamh` is the live handle libpam passed to the entry point; `item` is a valid
        // out-pointer. libpam only writes a pointer it owns into it.
        let rc = unsafe { pam_get_item(self.pamh, PAM_CONV, &mut item) };
        if rc != code::SUCCESS || item.is_null() {
            return Err(code::CONV_ERR);
        }
        // SAFETY: PAM_CONV's item is a `struct pam_conv` owned by the application, valid for
        // the life of the handle.
        let conv = unsafe { &*item.cast::<PamConv>() };
        let Some(function) = conv.conv else {
            return Err(code::CONV_ERR);
        };
        let text = CString::new(text.replace('\0', " ")).map_err(|_| code::BUF_ERR)?;
        let message = PamMessage {
            msg_style: style,
            msg: text.as_ptr(),
        };
        let mut messages = [&message as *const PamMessage];
        let mut reply: *mut PamResponse = std::ptr::null_mut();
        // SAFETY: one message, whose text outlives the call; `reply` is a valid out-pointer.
        // The application allocates the reply with malloc and hands its ownership to us.
        let rc = unsafe { function(1, messages.as_mut_ptr(), &mut reply, conv.appdata_ptr) };
        // SAFETY: `reply` is null or the application's malloc'd array of one response.
        let answer = unsafe { take_reply(reply) };
        if rc != code::SUCCESS {
            return Err(code::CONV_ERR);
        }
        answer
    }
}

/// Copies the reply into a wiped-on-drop buffer, wipes the application's copy and frees it.
///
/// # Safety
/// `reply` is null or a malloc'd `struct pam_response` whose `resp` is null or a malloc'd
/// NUL-terminated string; ownership of both passes to this function.
unsafe fn take_reply(reply: *mut PamResponse) -> Result<Option<Zeroizing<String>>, i32> {
    if reply.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null, and a valid response by the contract.
    let resp = unsafe { (*reply).resp };
    let mut out = Ok(None);
    if !resp.is_null() {
        // SAFETY: `resp` is a NUL-terminated malloc'd string (contract); its `len` bytes are
        // ours to read and overwrite before we free it.
        let bytes = unsafe {
            let len = CStr::from_ptr(resp).to_bytes().len();
            std::slice::from_raw_parts_mut(resp.cast::<u8>(), len)
        };
        out = if bytes.len() > MAX_REPLY {
            Err(code::CONV_ERR)
        } else {
            match std::str::from_utf8(bytes) {
                Ok(s) => {
                    let mut copy = Zeroizing::new(String::with_capacity(s.len()));
                    copy.push_str(s);
                    Ok(Some(copy))
                }
                Err(_) => Err(code::CONV_ERR),
            }
        };
        bytes.zeroize();
        // SAFETY: malloc'd by the application and owned by us now; freed once.
        unsafe { free(resp.cast()) };
    }
    // SAFETY: the array itself, malloc'd by the application; freed once.
    unsafe { free(reply.cast()) };
    out
}

impl Host for PamHost {
    fn user(&mut self) -> Result<String, i32> {
        let mut user: *const c_char = std::ptr::null();
        // SAFETY: live handle; valid out-pointer; a null prompt means libpam's default.
        let rc = unsafe { pam_get_user(self.pamh, &mut user, std::ptr::null()) };
        if rc != code::SUCCESS {
            return Err(rc);
        }
        // SAFETY: on success `user` is libpam's NUL-terminated copy, valid during this call.
        unsafe { owned(user) }.ok_or(code::USER_UNKNOWN)
    }

    fn pam_env(&self, name: &str) -> Option<String> {
        let name = CString::new(name).ok()?;
        // SAFETY: live handle, NUL-terminated name; the result is null or libpam's string.
        unsafe { owned(pam_getenv(self.pamh, name.as_ptr())) }
    }

    fn tty(&self) -> Option<String> {
        let mut item: *const c_void = std::ptr::null();
        // SAFETY: live handle, valid out-pointer.
        let rc = unsafe { pam_get_item(self.pamh, PAM_TTY, &mut item) };
        if rc != code::SUCCESS {
            return None;
        }
        // SAFETY: PAM_TTY's item is null or a NUL-terminated string owned by libpam.
        unsafe { owned(item.cast()) }
    }

    fn secret(&mut self, prompt: &str) -> Result<Zeroizing<String>, i32> {
        self.conversation(PAM_PROMPT_ECHO_OFF, prompt)?
            .ok_or(code::CONV_ERR)
    }

    fn info(&mut self, text: &str) {
        let _ = self.conversation(PAM_TEXT_INFO, text);
    }

    fn error(&mut self, text: &str) {
        let _ = self.conversation(PAM_ERROR_MSG, text);
    }

    fn log(&mut self, priority: Priority, text: &str) {
        // A NUL inside would cut the line short: replace it rather than lose the line.
        let Ok(line) = CString::new(text.replace('\0', " ")) else {
            return;
        };
        // SAFETY: live handle; a constant "%s" format with one NUL-terminated string argument,
        // so nothing in `text` is read as a format directive. libpam adds LOG_AUTHPRIV.
        unsafe { pam_syslog(self.pamh, priority.level(), c"%s".as_ptr(), line.as_ptr()) };
    }

    fn keep(&mut self, what: Kept, value: &str) -> Result<(), i32> {
        let name = CString::new(what.name()).map_err(|_| code::BUF_ERR)?;
        let value = CString::new(value).map_err(|_| code::BUF_ERR)?.into_raw();
        // SAFETY: live handle; libpam copies the name; `value` is handed over and freed by
        // `drop_kept` when the handle ends or the name is set again.
        let rc = unsafe { pam_set_data(self.pamh, name.as_ptr(), value.cast(), Some(drop_kept)) };
        if rc != code::SUCCESS {
            // SAFETY: libpam did not take it; it came from `into_raw` just above.
            drop(unsafe { CString::from_raw(value) });
            return Err(rc);
        }
        Ok(())
    }

    fn kept(&self, what: Kept) -> Option<String> {
        let name = CString::new(what.name()).ok()?;
        let mut data: *const c_void = std::ptr::null();
        // SAFETY: live handle, NUL-terminated name, valid out-pointer.
        let rc = unsafe { pam_get_data(self.pamh, name.as_ptr(), &mut data) };
        if rc != code::SUCCESS {
            return None;
        }
        // SAFETY: only `keep` sets these names, always to a CString it owns.
        unsafe { owned(data.cast()) }
    }
}

/// libpam's cleanup for the values of [`PamHost::keep`].
///
/// # Safety
/// `data` is a pointer from `CString::into_raw` in `keep`, passed to this function once.
unsafe extern "C" fn drop_kept(_pamh: *mut PamHandle, data: *mut c_void, _status: c_int) {
    if !data.is_null() {
        // SAFETY: by the contract above.
        drop(unsafe { CString::from_raw(data.cast()) });
    }
}

type Flow = fn(&mut PamHost, &Settings, u32) -> i32;

/// The common shape of every entry point: arguments, then the flow, all under
/// `catch_unwind`.
fn enter(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
    flow: Flow,
) -> i32 {
    let run = || {
        if pamh.is_null() {
            return code::SYSTEM_ERR;
        }
        let mut args = Vec::new();
        if !argv.is_null() {
            for i in 0..usize::try_from(argc).unwrap_or(0).min(64) {
                // SAFETY: libpam passes `argc` valid pointers in `argv`, each NUL-terminated.
                let arg = unsafe { owned(*argv.add(i)) };
                args.extend(arg);
            }
        }
        let mut host = PamHost { pamh };
        let settings = match Settings::parse(args.iter().map(String::as_str)) {
            Ok(s) => s,
            Err(e) => {
                // The administrator's only clue otherwise is "Error in service module".
                host.log(Priority::Err, &syslog::bad_arguments(&e));
                return code::SERVICE_ERR;
            }
        };
        flow(&mut host, &settings, flags as u32)
    };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or(code::SYSTEM_ERR)
}

/// `pam_sm_authenticate`.
#[no_mangle]
pub extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    enter(pamh, flags, argc, argv, flows::authenticate)
}

/// `pam_sm_setcred`: the card login gives no credentials to set.
#[no_mangle]
pub extern "C" fn pam_sm_setcred(
    _pamh: *mut PamHandle,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    code::SUCCESS
}

/// `pam_sm_acct_mgmt`.
#[no_mangle]
pub extern "C" fn pam_sm_acct_mgmt(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    enter(pamh, flags, argc, argv, flows::account)
}

/// `pam_sm_open_session`.
#[no_mangle]
pub extern "C" fn pam_sm_open_session(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    enter(pamh, flags, argc, argv, flows::open_session)
}

/// `pam_sm_close_session`.
#[no_mangle]
pub extern "C" fn pam_sm_close_session(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    enter(pamh, flags, argc, argv, flows::close_session)
}

/// `pam_sm_chauthtok`.
#[no_mangle]
pub extern "C" fn pam_sm_chauthtok(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    enter(pamh, flags, argc, argv, flows::change_pin)
}
