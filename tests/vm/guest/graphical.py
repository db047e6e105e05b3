"""The booted guest's graphical session without a screen locker (issue 15, point 3).

Called by scenario.py (`graphical.steps(self)`) with cardgated running under its unit, the
PAM profile enabled and the operator's card issued; reported as scenario.py reports steps.

`graphical-no-locker`: the operator authenticates with the card and PIN through a PAM
service built from Debian's common stacks (the package's pam-auth-update profile in them),
as a display manager would; then systemd opens a logind session of type x11 through the
same service (account and session) with Xvfb in it and nothing that obeys logind's `Lock`.
The card is pulled: nothing sets `LockedHint`, so the daemon ends the session once
`[session] lock_confirm_ms` has passed (`session_ended`, reason `lock_not_confirmed`), and
logind no longer has it (or has it closing).

The case with a real locker (GNOME Shell 43, which sets `LockedHint`) is not run here, for
two measured reasons. GNOME Shell builds its screen shield, and with it its `Lock` handler
and `org.gnome.ScreenSaver`, only `if (LoginManager.canLock())` (js/ui/main.js), and
`canLock()` (js/misc/loginManager.js) is false unless GDM answers the `Version` property of
`org.gnome.DisplayManager.Manager` on the system bus: run on its own (as first
proposed from the sources), it started (in an x11 session on Xvfb in this guest,
"GNOME Shell started" about 110 s after its unit, logged 3 minutes after) and never owned
org.gnome.ScreenSaver in 300 s, so nothing would lock. It needs GDM running as the display
manager, and already without it its packages grew the image from 340 MB to 999 MB and its
build from about 2 to 7 minutes under this load, against about 3 minutes for the whole
graphical part. Nothing here stands in for a locker: a hint set by a stand-in would test only
the daemon's read-back, never a lock.
"""

import glob
import json
import os
import sys
import time

PAM_SERVICE = "cardgate-x11"
# How a display manager's PAM service looks on Debian: the common stacks, in which
# pam-auth-update put pam_cardgate (auth, account; session after pam_systemd).
PAM_TEXT = ("# Written by the booted-guest test (tests/vm/guest/graphical.py).\n"
            "@include common-auth\n@include common-account\n@include common-session\n")
# The daemon's default: scenario.py's cardgated.toml sets none.
LOCK_CONFIRM_MS = 3000
AUDIT = "/var/lib/cardgate/audit"
DISPLAY = ":1"


def steps(scenario):
    """The graphical step, run by the scenario after its console session steps."""
    g = Graphical(scenario)
    scenario.step("graphical-no-locker", g.no_locker)


class Graphical:
    def __init__(self, scenario):
        self.sc = scenario
        # The helpers of the module that runs the scenario (it is __main__, not `scenario`).
        base = sys.modules[type(scenario).__module__]
        self.StepFailed = base.StepFailed
        self.sh = base.sh
        self.wait_for = base.wait_for
        self.work = base.WORK
        self.reader = base.READER
        self.user = base.USER
        self.operator = base.OPERATOR
        self.pin = base.NEW_PIN
        self.units = 0

    # ---- setup ----

    def prepare(self):
        """The session's PAM service, as a display manager's: Debian's common stacks."""
        with open(f"/etc/pam.d/{PAM_SERVICE}", "w") as f:
            f.write(PAM_TEXT)

    def unprepare(self):
        """The PAM service goes again: the purge step compares the system with before install."""
        path = f"/etc/pam.d/{PAM_SERVICE}"
        if os.path.exists(path):
            os.unlink(path)

    def uid(self):
        return self.sh(["id", "-u", self.user])[1].strip()

    # ---- what the daemon recorded ----

    def records(self):
        """Every audit record the daemon wrote, in order (the log's JSON lines)."""
        out = []
        for path in sorted(glob.glob(AUDIT + "/audit-*.jsonl")):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass  # a torn tail is the verifier's business, not this step's
        return out

    def last_seq(self):
        records = self.records()
        return records[-1].get("seq", -1) if records else -1

    def new_events(self, after):
        """The operator's session records written after seq `after` (no other session of
        theirs is open then)."""
        return [r for r in self.records()
                if r.get("seq", -1) > after and r.get("operator") == self.operator
                and r.get("event", {}).get("kind") in ("session_locked", "session_ended",
                                                      "session_end_failed")]

    def since(self, after):
        return "\n".join(json.dumps(r, ensure_ascii=False) for r in self.records()
                         if r.get("seq", -1) > after)

    # ---- a graphical session ----

    def authenticate(self):
        """The card and PIN through the PAM service: cardgated keeps a pending login."""
        self.sc.insert(self.reader, self.work + "/op1.card")
        status, text = self.sh(["pamtester", PAM_SERVICE, self.user, "authenticate", "acct_mgmt"],
                               check=False, stdin=self.pin + "\n", timeout=120)
        if status != 0:
            raise self.StepFailed(f"pamtester {PAM_SERVICE} {self.user} authenticate acct_mgmt "
                                  f"exited {status}:\n{text}")
        return text.strip()

    def sessions(self):
        _, text = self.sh(["loginctl", "list-sessions", "--no-legend"])
        return {l.split()[0] for l in text.splitlines()
                if len(l.split()) > 2 and l.split()[2] == self.user}

    def start(self, program):
        """A logind session of type x11 opened by systemd through the PAM service (account
        and session, as a display manager does after auth), running `program` on Xvfb."""
        uid = self.uid()
        self.units += 1
        unit = f"cardgate-x11-{self.units}"
        before = self.sessions()
        env = {
            "XDG_SESSION_TYPE": "x11", "XDG_SESSION_CLASS": "user",
            "XDG_SESSION_DESKTOP": "GNOME", "DISPLAY": DISPLAY,
            "XDG_RUNTIME_DIR": f"/run/user/{uid}",
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path=/run/user/{uid}/bus",
            "LIBGL_ALWAYS_SOFTWARE": "1",
        }
        args = ["systemd-run", f"--unit={unit}", "--service-type=simple",
                "-p", f"PAMName={PAM_SERVICE}", "-p", f"User={self.user}"]
        for k, v in env.items():
            args += ["-p", f"Environment={k}={v}"]
        args += ["/bin/sh", "-c",
                 f"Xvfb {DISPLAY} -screen 0 1024x768x24 -nolisten tcp & "
                 f"while [ ! -e /tmp/.X11-unix/X{DISPLAY[1:]} ]; do sleep 0.2; done; {program}"]
        self.sh(args)

        def new_session():
            fresh = self.sessions() - before
            return sorted(fresh)[-1] if fresh else None
        sid = None
        try:
            sid, _ = self.wait_for(f"logind's session for {unit}", new_session, within=60)
            s = self.sc.session(sid)
            if s.get("Type") != "x11" or s.get("Name") != self.user:
                raise self.StepFailed(f"session {sid} of {unit} is not {self.user}'s x11 session: {s}")
            self.wait_for(f"Xvfb {DISPLAY} in session {sid}",
                          lambda: os.path.exists(f"/tmp/.X11-unix/X{DISPLAY[1:]}"), within=60)
            (_, daemon), _ = self.wait_for(f"cardgated to track session {sid}",
                                           lambda: (lambda o: o if sid in o[1] else None)(
                                               self.sh(["cardgatectl", "sessions"], check=False)),
                                           within=30)
        except self.StepFailed as e:
            self.stop(unit, sid)
            raise self.StepFailed(f"{e}\n{self.unit_log(unit)}")
        except Exception:
            self.stop(unit, sid)  # a bug of this module leaves no session behind either
            raise
        return unit, sid, (f"session {sid}: {s}; Xvfb {DISPLAY} up\n"
                           f"cardgatectl sessions:\n{daemon.strip()}")

    def unit_log(self, unit):
        _, text = self.sh(f"journalctl -b --no-pager -o short-precise -u {unit} | tail -30",
                          check=False)
        return f"--- journal of {unit}\n{text}"

    def stop(self, unit, sid):
        self.sh(["systemctl", "stop", unit], check=False, timeout=60)
        if sid and self.sc.session(sid):
            self.sh(["loginctl", "terminate-session", sid], check=False)

    # ---- the steps ----

    def no_locker(self):
        self.prepare()
        try:
            return self.pull_from_x11_without_locker()
        finally:
            self.unprepare()

    def pull_from_x11_without_locker(self):
        auth = self.authenticate()
        unit, sid, evidence = self.start("exec sleep infinity")
        try:
            before = self.last_seq()
            pulled = time.monotonic()
            self.sc.remove(self.reader)

            def gone():
                s = self.sc.session(sid)
                return "gone" if not s else ("closing" if s.get("State") == "closing" else None)
            # The daemon waits lock_confirm_ms for a hint that never comes, then ends it.
            how, _ = self.wait_for(f"logind to end session {sid} after the card was pulled",
                                   gone, within=LOCK_CONFIRM_MS / 1000 + 60)
            seconds = time.monotonic() - pulled
            try:
                records, _ = self.wait_for(f"cardgated's record for session {sid}",
                                           lambda: self.new_events(before), within=30)
            except self.StepFailed as e:
                raise self.StepFailed(f"{e}\nsession {sid} {how} {seconds:.1f} s after the pull; "
                                      f"records since seq {before} in {AUDIT}:\n"
                                      f"{self.since(before)}\n{evidence}")
            event = records[0]["event"]
            if event.get("kind") != "session_ended" or event.get("reason") != "lock_not_confirmed" \
                    or len(records) != 1:
                raise self.StepFailed(f"the card pulled from {self.user}'s x11 session {sid} with no "
                                      f"locker: records {records}; logind: {how}\n{evidence}")
            if seconds * 1000 < LOCK_CONFIRM_MS:
                raise self.StepFailed(f"session {sid} ended {seconds:.1f} s after the pull, before "
                                      f"lock_confirm_ms ({LOCK_CONFIRM_MS} ms) ran out: {records}")
            return (f"{auth}\n{evidence}\ncard pulled: session {sid} {how} {seconds:.1f} s later "
                    f"(lock_confirm_ms {LOCK_CONFIRM_MS})\n"
                    f"record: {json.dumps(records[0], ensure_ascii=False)}")
        finally:
            self.stop(unit, sid)
