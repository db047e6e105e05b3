//! Business hours: outside them, logins are refused and open sessions are locked.

use serde::Deserialize;
use time::{OffsetDateTime, UtcOffset, Weekday};

/// `[business_hours]`: the days and the daily window, in the terminal's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Working days, as `mon` … `sun`.
    #[serde(default = "weekdays")]
    pub days: Vec<Day>,
    /// Start, `HH:MM` (inclusive).
    pub start: ClockTime,
    /// End, `HH:MM` (exclusive).
    pub end: ClockTime,
}

fn weekdays() -> Vec<Day> {
    vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri]
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
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
    fn of(w: Weekday) -> Day {
        match w {
            Weekday::Monday => Day::Mon,
            Weekday::Tuesday => Day::Tue,
            Weekday::Wednesday => Day::Wed,
            Weekday::Thursday => Day::Thu,
            Weekday::Friday => Day::Fri,
            Weekday::Saturday => Day::Sat,
            Weekday::Sunday => Day::Sun,
        }
    }
}

/// A time of day, minutes since midnight, written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ClockTime(pub u16);

impl TryFrom<String> for ClockTime {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let bad = || format!("{s:?} is not a time of day HH:MM");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        // Digits only: `u16::from_str` would also take a sign ("+8").
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
}

impl BusinessHours {
    /// Is this instant within business hours, read in the given time zone?
    pub fn contains(&self, at: OffsetDateTime, offset: UtcOffset) -> bool {
        let local = at.to_offset(offset);
        let minute = u16::from(local.hour()) * 60 + u16::from(local.minute());
        self.days.contains(&Day::of(local.weekday()))
            && self.start.0 <= minute
            && minute < self.end.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn window_in_jst() {
        let hours: BusinessHours = toml::from_str("start = \"08:30\"\nend = \"17:15\"").unwrap();
        let jst = UtcOffset::from_hms(9, 0, 0).unwrap();
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
    }
}
