//! Business hours: the working days and the daily windows in which people are expected to
//! work, in local time. One type and one parser for both of their users: `cardgated` refuses
//! logins and locks open sessions outside them (`[business_hours]` in `cardgated.toml`), and
//! the access manager's review (`cardgatectl audit report`) flags sessions outside them. So a
//! time the daemon calls outside is outside in the review too, and a text one of them refuses
//! the other refuses as well.
//!
//! 日本語: 業務時間（曜日と時間帯）。デーモンと監査レビューが同じ型・同じ解析を使う。

use serde::Deserialize;
use std::fmt;
use std::ops::RangeInclusive;
use time::{OffsetDateTime, UtcOffset, Weekday};

/// The UTC offsets a terminal's legal time zone may have, in minutes (UTC−12:00 to
/// UTC+14:00, the offsets in use on Earth). `daemon.utc_offset_minutes` and the review's
/// `--utc-offset` are held to the same range.
pub const UTC_OFFSET_MINUTES: RangeInclusive<i16> = -720..=840;

/// Why a business-hours setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HoursError {
    /// Not a time of day `HH:MM` (two digits each, no sign, `00:00` to `24:00`).
    #[error("{0:?} is not a time of day HH:MM")]
    Time(String),
    /// A window that ends before it starts, or never opens.
    #[error("business hours start {start} must be before their end {end} (a window that never opens refuses every login)")]
    Order {
        /// Its start.
        start: ClockTime,
        /// Its end.
        end: ClockTime,
    },
    /// Not `HH:MM-HH:MM` with start before end.
    #[error("business hours must look like 08:30-17:15 (start before end): {0:?}")]
    Range(String),
    /// Not a day name.
    #[error("{0:?} is not a day (mon, tue, wed, thu, fri, sat or sun)")]
    Day(String),
    /// Not a day list like `mon-fri` or `mon,tue,sat`.
    #[error("business days must look like mon-fri or mon,wed,fri: {0:?}")]
    Days(String),
    /// Not `+HH:MM` / `-HH:MM` within UTC−12:00 to UTC+14:00.
    #[error("UTC offset must look like +09:00, within -12:00 to +14:00: {0:?}")]
    Offset(String),
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
#[allow(missing_docs)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    /// Every day, Monday first.
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    /// Its name, as written in the configuration: `mon` … `sun`.
    pub fn name(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.index()]
    }

    /// The day named `mon` … `sun` (lower case, as the configuration writes it).
    pub fn parse(name: &str) -> Result<Day, HoursError> {
        Day::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| HoursError::Day(name.to_owned()))
    }

    fn index(self) -> usize {
        self as usize
    }

    fn of(w: Weekday) -> Day {
        Day::ALL[usize::from(w.number_days_from_monday())]
    }
}

impl TryFrom<String> for Day {
    type Error = HoursError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Day::parse(&s)
    }
}

/// A time of day, in minutes since midnight (`00:00` to `24:00`), written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ClockTime(u16);

impl ClockTime {
    /// Midnight at the end of the day, `24:00`: a window may end there.
    pub const END_OF_DAY: ClockTime = ClockTime(24 * 60);

    /// Parses `HH:MM`: exactly two digits each (no sign, no space), hours up to 24, `24:00`
    /// the latest.
    pub fn parse(text: &str) -> Result<Self, HoursError> {
        let bad = || HoursError::Time(text.to_owned());
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        // Digits only: `u16::from_str` would also take a sign ("+8:30" read as 08:30).
        if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if h > 24 || m > 59 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(ClockTime(h * 60 + m))
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }

    /// The minute of the day a local time is in (seconds are not counted: 17:14:59 is in
    /// minute 17:14).
    fn of(local: OffsetDateTime) -> ClockTime {
        ClockTime(u16::from(local.hour()) * 60 + u16::from(local.minute()))
    }
}

impl TryFrom<String> for ClockTime {
    type Error = HoursError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ClockTime::parse(&s)
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// One daily window, `[start, end)`: the start minute is in, the end minute is out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: ClockTime,
    end: ClockTime,
}

impl Window {
    /// A window; `start` must be before `end`.
    pub fn new(start: ClockTime, end: ClockTime) -> Result<Self, HoursError> {
        if start >= end {
            return Err(HoursError::Order { start, end });
        }
        Ok(Window { start, end })
    }

    /// Parses `HH:MM-HH:MM` (spaces around either time are allowed).
    pub fn parse(text: &str) -> Result<Self, HoursError> {
        let bad = || HoursError::Range(text.to_owned());
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let (a, b) = (
            ClockTime::parse(a.trim()).map_err(|_| bad())?,
            ClockTime::parse(b.trim()).map_err(|_| bad())?,
        );
        Window::new(a, b).map_err(|_| bad())
    }

    /// Its start (inclusive).
    pub fn start(self) -> ClockTime {
        self.start
    }

    /// Its end (exclusive).
    pub fn end(self) -> ClockTime {
        self.end
    }

    fn contains(self, t: ClockTime) -> bool {
        self.start <= t && t < self.end
    }
}

/// When people are expected to work: working days and one or more daily windows, in the
/// terminal's local time (the offset is given when a time is read, as the daemon keeps it in
/// `daemon.utc_offset_minutes` and the review takes `--utc-offset`).
///
/// In `cardgated.toml` it is the `[business_hours]` table: `days` (default Monday to
/// Friday), `start` and `end`, one window.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "HoursTable")]
pub struct BusinessHours {
    days: [bool; 7],
    windows: Vec<Window>,
}

/// `[business_hours]` as written in the file; checked into a [`BusinessHours`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursTable {
    #[serde(default = "weekdays")]
    days: Vec<Day>,
    start: ClockTime,
    end: ClockTime,
}

fn weekdays() -> Vec<Day> {
    Day::ALL[..5].to_vec()
}

impl TryFrom<HoursTable> for BusinessHours {
    type Error = HoursError;
    fn try_from(t: HoursTable) -> Result<Self, Self::Error> {
        Ok(BusinessHours::new(
            t.days,
            vec![Window::new(t.start, t.end)?],
        ))
    }
}

impl Default for BusinessHours {
    /// Monday to Friday, 08:30–17:15 (the review's default).
    fn default() -> Self {
        BusinessHours::new(
            weekdays(),
            vec![Window {
                start: ClockTime(8 * 60 + 30),
                end: ClockTime(17 * 60 + 15),
            }],
        )
    }
}

impl BusinessHours {
    /// Business hours on `days` (none: never open), within `windows`.
    pub fn new(days: impl IntoIterator<Item = Day>, windows: Vec<Window>) -> Self {
        let mut set = [false; 7];
        for d in days {
            set[d.index()] = true;
        }
        BusinessHours { days: set, windows }
    }

    /// Parses the review's options: days like `mon-fri`, `mon,tue,sat` or `mon-fri,sat`
    /// (any case), and windows like `08:30-17:15` (one or more).
    pub fn parse(days: &str, windows: &[String]) -> Result<Self, HoursError> {
        let windows = windows
            .iter()
            .map(|w| Window::parse(w))
            .collect::<Result<_, _>>()?;
        Ok(BusinessHours::new(parse_days(days)?, windows))
    }

    /// Is `day` a working day?
    pub fn is_working_day(&self, day: Day) -> bool {
        self.days[day.index()]
    }

    /// The daily windows.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Which (local date, window) an instant falls in, read at `offset`; `None` outside
    /// business hours.
    pub fn slot(&self, at: OffsetDateTime, offset: UtcOffset) -> Option<(time::Date, usize)> {
        let local = at.to_offset(offset);
        if !self.is_working_day(Day::of(local.weekday())) {
            return None;
        }
        let minute = ClockTime::of(local);
        let index = self.windows.iter().position(|w| w.contains(minute))?;
        Some((local.date(), index))
    }

    /// Is this instant within business hours, read at `offset`?
    pub fn contains(&self, at: OffsetDateTime, offset: UtcOffset) -> bool {
        self.slot(at, offset).is_some()
    }

    /// Does a session from `start` to `end` lie within one window of one working day?
    pub fn covers(&self, start: OffsetDateTime, end: OffsetDateTime, offset: UtcOffset) -> bool {
        match (self.slot(start, offset), self.slot(end, offset)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

fn parse_days(spec: &str) -> Result<Vec<Day>, HoursError> {
    let bad = || HoursError::Days(spec.to_owned());
    let day = |d: &str| Day::parse(&d.trim().to_ascii_lowercase()).map_err(|_| bad());
    let mut days = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                if a > b {
                    return Err(bad());
                }
                days.extend(Day::ALL[a.index()..=b.index()].iter().copied());
            }
            None => days.push(day(part)?),
        }
    }
    Ok(days)
}

/// Parses a UTC offset `+HH:MM` or `-HH:MM` (the sign is required, each time part as strict
/// as in [`ClockTime::parse`]), within [`UTC_OFFSET_MINUTES`].
pub fn parse_utc_offset(spec: &str) -> Result<UtcOffset, HoursError> {
    let bad = || HoursError::Offset(spec.to_owned());
    let (sign, rest) = match spec.as_bytes().first() {
        Some(b'+') => (1i16, &spec[1..]),
        Some(b'-') => (-1i16, &spec[1..]),
        _ => return Err(bad()),
    };
    let minutes = ClockTime::parse(rest).map_err(|_| bad())?.minutes();
    let minutes = sign * i16::try_from(minutes).map_err(|_| bad())?;
    utc_offset(minutes).ok_or_else(bad)
}

/// The offset of `minutes` east of UTC, if within [`UTC_OFFSET_MINUTES`].
pub fn utc_offset(minutes: i16) -> Option<UtcOffset> {
    if !UTC_OFFSET_MINUTES.contains(&minutes) {
        return None;
    }
    UtcOffset::from_whole_seconds(i32::from(minutes) * 60).ok()
}

/// `at` as a person in the office reads it: `2026-11-03 10:00:05 +09:00`, in the office's
/// offset (the one format for times that `cardgatectl` and the review show; the log itself
/// keeps UTC).
pub fn format_local(at: OffsetDateTime, offset: UtcOffset) -> String {
    let t = at.to_offset(offset);
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {sign}{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        h.unsigned_abs(),
        m.unsigned_abs()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    #[test]
    fn local_times_are_shown_in_the_office_offset() {
        let jst = utc_offset(540).unwrap();
        assert_eq!(
            format_local(datetime!(2026-11-30 15:00:05 UTC), jst),
            "2026-12-01 00:00:05 +09:00"
        );
        let west = utc_offset(-330).unwrap();
        assert_eq!(
            format_local(datetime!(2026-11-30 00:00:00 UTC), west),
            "2026-11-29 18:30:00 -05:30"
        );
    }

    fn jst() -> UtcOffset {
        utc_offset(540).unwrap()
    }

    #[test]
    fn window_in_jst() {
        let hours: BusinessHours = toml::from_str("start = \"08:30\"\nend = \"17:15\"").unwrap();
        let jst = jst();
        // 2026-11-25 is a Wednesday. 08:30 JST = 23:30 UTC the day before.
        assert!(hours.contains(datetime!(2026-11-24 23:30 UTC), jst));
        assert!(!hours.contains(datetime!(2026-11-24 23:29 UTC), jst));
        assert!(hours.contains(datetime!(2026-11-25 08:14 UTC), jst));
        assert!(!hours.contains(datetime!(2026-11-25 08:15 UTC), jst));
        // Saturday noon JST.
        assert!(!hours.contains(datetime!(2026-11-28 03:00 UTC), jst));
        assert!(toml::from_str::<BusinessHours>("start = \"8:30\"\nend = \"17:15\"").is_err());
        assert!(toml::from_str::<BusinessHours>("start = \"25:00\"\nend = \"17:15\"").is_err());
        assert!(toml::from_str::<BusinessHours>("start = \"+8:30\"\nend = \"17:15\"").is_err());
        assert!(toml::from_str::<BusinessHours>("start = \"17:00\"\nend = \"08:30\"").is_err());
        assert!(toml::from_str::<BusinessHours>(
            "days = [\"Mon\"]\nstart = \"08:30\"\nend = \"17:15\""
        )
        .is_err());
    }

    // The review's parser read "+8:30" as 08:30 (and "++9:00" as +09:00): `u16::from_str`
    // takes a sign. The daemon's had been fixed; now there is one parser, and the review
    // refuses them too.
    #[test]
    fn review_options_refuse_a_signed_time_as_the_daemon_does() {
        for bad in ["+8:30-17:15", "08:30-+5:15", "8:30-17:15", "08:30- +5:15"] {
            assert_eq!(
                BusinessHours::parse("mon-fri", &[bad.into()]),
                Err(HoursError::Range(bad.into())),
                "{bad}"
            );
        }
        for bad in ["++9:00", "+-9:00", "+ 9:00", "+9:00"] {
            assert_eq!(
                parse_utc_offset(bad),
                Err(HoursError::Offset(bad.into())),
                "{bad}"
            );
        }
        assert!(ClockTime::parse("+8:30").is_err());
    }

    // The review took any offset `time` could hold (up to ±24:00); the daemon's
    // `utc_offset_minutes` is held to -12:00..=+14:00. One range for both.
    #[test]
    fn review_offsets_are_held_to_the_daemons_range() {
        assert_eq!(
            parse_utc_offset("+14:00").unwrap(),
            utc_offset(840).unwrap()
        );
        assert_eq!(
            parse_utc_offset("-12:00").unwrap(),
            utc_offset(-720).unwrap()
        );
        assert_eq!(
            parse_utc_offset("-03:30").unwrap(),
            UtcOffset::from_hms(-3, -30, 0).unwrap()
        );
        for bad in ["+14:01", "-12:30", "+24:00", "09:00"] {
            assert!(parse_utc_offset(bad).is_err(), "{bad}");
        }
        assert_eq!(utc_offset(841), None);
    }

    #[test]
    fn review_options_parse_strictly() {
        let hours = BusinessHours::parse(
            "mon-wed,SAT",
            &["08:30-12:00".into(), "13:00 - 17:15".into()],
        )
        .unwrap();
        let minutes: Vec<_> = hours
            .windows()
            .iter()
            .map(|w| (w.start().minutes(), w.end().minutes()))
            .collect();
        assert_eq!(minutes, vec![(510, 720), (780, 1035)]);
        let days: Vec<_> = Day::ALL.map(|d| hours.is_working_day(d)).to_vec();
        assert_eq!(days, [true, true, true, false, false, true, false]);
        for bad in [
            "17:15-08:30",
            "08:30",
            "08:60-09:00",
            "25:00-26:00",
            "09:00-09:00",
        ] {
            assert!(BusinessHours::parse("mon", &[bad.into()]).is_err(), "{bad}");
        }
        assert!(BusinessHours::parse("fri-mon", &[]).is_err());
        assert!(BusinessHours::parse("someday", &[]).is_err());
        assert_eq!(
            BusinessHours::parse("mon-fri", &["08:30-17:15".into()]).unwrap(),
            BusinessHours::default()
        );
    }

    // The daemon's `[business_hours]` and the review's options for the same hours are one
    // value, so they agree on every instant; the boundaries checked here are the ones the
    // two used to compute separately: the first minute in, the end minute out, midnight.
    #[test]
    fn the_daemons_table_and_the_reviews_options_agree_on_the_boundaries() {
        let daemon: BusinessHours = toml::from_str(
            "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nstart = \"08:30\"\nend = \"17:15\"",
        )
        .unwrap();
        let review = BusinessHours::parse("mon-fri", &["08:30-17:15".into()]).unwrap();
        assert_eq!(daemon, review);
        let jst = jst();
        for (at, inside) in [
            (datetime!(2026-11-24 23:29:59 UTC), false), // Wed 08:29:59 JST
            (datetime!(2026-11-24 23:30:00 UTC), true),  // Wed 08:30 JST
            (datetime!(2026-11-25 08:14:59 UTC), true),  // Wed 17:14:59 JST
            (datetime!(2026-11-25 08:15:00 UTC), false), // Wed 17:15 JST
            (datetime!(2026-11-27 14:59:59 UTC), false), // Fri 23:59:59 JST
        ] {
            assert_eq!(daemon.contains(at, jst), inside, "{at}");
            assert_eq!(review.contains(at, jst), inside, "{at}");
        }
        let all_day: BusinessHours =
            toml::from_str("days = [\"sat\"]\nstart = \"00:00\"\nend = \"24:00\"").unwrap();
        assert!(all_day.contains(datetime!(2026-11-28 14:59:59 UTC), jst)); // Sat 23:59:59
        assert!(!all_day.contains(datetime!(2026-11-28 15:00:00 UTC), jst)); // Sun 00:00
                                                                             // A session is inside only within one window of one day.
        let (start, end) = (
            datetime!(2026-11-25 00:00 UTC),
            datetime!(2026-11-25 08:14 UTC),
        );
        assert!(review.covers(start, end, jst));
        assert!(!review.covers(start, datetime!(2026-11-25 08:15 UTC), jst));
        assert!(!review.covers(start, datetime!(2026-11-26 00:00 UTC), jst));
    }
}
