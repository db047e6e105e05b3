//! Japan's national holidays (国民の祝日に関する法律) and the office's own closed days.
//!
//! The holidays are computed from the rules of the law, not read from a list, so that the
//! review of a log from any year the daemon may run in knows them: the fixed days, the Happy
//! Monday days (成人の日, 海の日, 敬老の日, スポーツの日), 春分の日 and 秋分の日 by the standard
//! astronomical approximation (valid 1980–2099; the Cabinet Office fixes them each February
//! for the next year, and the approximation has matched every one since 1980), 振替休日 (a
//! holiday on a Sunday moves to the next day that is not a holiday, art. 3.2) and 国民の休日
//! (a day between two holidays, art. 3.3). The changes of the law since 2000 are kept (Happy
//! Monday 2000/2003, 昭和の日 2007, 山の日 2016, 天皇誕生日 2019/2020, the Olympic moves of
//! 2020 and 2021), so that older logs are reviewed against the law of their day.
//!
//! Closed days are the office's: the year-end closure 12/29–1/3 (行政機関の休日に関する法律
//! art. 1, on by default) and explicit dates from `[calendar] closed_days`.

use serde::Serialize;
use time::{Date, Month, Weekday};

/// The years [`holiday`] knows (the equinox approximation and the law since 2000).
pub const SUPPORTED_YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

/// One national holiday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidayKind {
    /// 元日, 1 January.
    NewYearsDay,
    /// 成人の日, the second Monday of January.
    ComingOfAgeDay,
    /// 建国記念の日, 11 February.
    NationalFoundationDay,
    /// 天皇誕生日, 23 February (23 December until 2018).
    EmperorsBirthday,
    /// 春分の日.
    VernalEquinoxDay,
    /// 昭和の日, 29 April (みどりの日 until 2006).
    ShowaDay,
    /// 憲法記念日, 3 May.
    ConstitutionMemorialDay,
    /// みどりの日, 4 May (29 April until 2006).
    GreeneryDay,
    /// こどもの日, 5 May.
    ChildrensDay,
    /// 海の日, the third Monday of July.
    MarineDay,
    /// 山の日, 11 August.
    MountainDay,
    /// 敬老の日, the third Monday of September.
    RespectForTheAgedDay,
    /// 秋分の日.
    AutumnalEquinoxDay,
    /// スポーツの日 (体育の日 until 2019), the second Monday of October.
    SportsDay,
    /// 文化の日, 3 November.
    CultureDay,
    /// 勤労感謝の日, 23 November.
    LabourThanksgivingDay,
    /// 即位の日 and 即位礼正殿の儀の行われる日 (2019, by a law of their own).
    Enthronement,
    /// 振替休日: a holiday fell on a Sunday.
    SubstituteHoliday,
    /// 国民の休日: a day between two holidays.
    CitizensHoliday,
}

impl HolidayKind {
    /// The Japanese name, as the law writes it.
    pub fn name_ja(self, year: i32) -> &'static str {
        match self {
            HolidayKind::NewYearsDay => "元日",
            HolidayKind::ComingOfAgeDay => "成人の日",
            HolidayKind::NationalFoundationDay => "建国記念の日",
            HolidayKind::EmperorsBirthday => "天皇誕生日",
            HolidayKind::VernalEquinoxDay => "春分の日",
            HolidayKind::ShowaDay if year < 2007 => "みどりの日",
            HolidayKind::ShowaDay => "昭和の日",
            HolidayKind::ConstitutionMemorialDay => "憲法記念日",
            HolidayKind::GreeneryDay => "みどりの日",
            HolidayKind::ChildrensDay => "こどもの日",
            HolidayKind::MarineDay => "海の日",
            HolidayKind::MountainDay => "山の日",
            HolidayKind::RespectForTheAgedDay => "敬老の日",
            HolidayKind::AutumnalEquinoxDay => "秋分の日",
            HolidayKind::SportsDay if year < 2020 => "体育の日",
            HolidayKind::SportsDay => "スポーツの日",
            HolidayKind::CultureDay => "文化の日",
            HolidayKind::LabourThanksgivingDay => "勤労感謝の日",
            HolidayKind::Enthronement => "即位の日・即位礼正殿の儀の行われる日",
            HolidayKind::SubstituteHoliday => "振替休日",
            HolidayKind::CitizensHoliday => "国民の休日",
        }
    }

    /// The English name the Cabinet Office uses.
    pub fn name_en(self, year: i32) -> &'static str {
        match self {
            HolidayKind::NewYearsDay => "New Year's Day",
            HolidayKind::ComingOfAgeDay => "Coming of Age Day",
            HolidayKind::NationalFoundationDay => "National Foundation Day",
            HolidayKind::EmperorsBirthday => "The Emperor's Birthday",
            HolidayKind::VernalEquinoxDay => "Vernal Equinox Day",
            HolidayKind::ShowaDay if year < 2007 => "Greenery Day",
            HolidayKind::ShowaDay => "Showa Day",
            HolidayKind::ConstitutionMemorialDay => "Constitution Memorial Day",
            HolidayKind::GreeneryDay => "Greenery Day",
            HolidayKind::ChildrensDay => "Children's Day",
            HolidayKind::MarineDay => "Marine Day",
            HolidayKind::MountainDay => "Mountain Day",
            HolidayKind::RespectForTheAgedDay => "Respect for the Aged Day",
            HolidayKind::AutumnalEquinoxDay => "Autumnal Equinox Day",
            HolidayKind::SportsDay if year < 2020 => "Health and Sports Day",
            HolidayKind::SportsDay => "Sports Day",
            HolidayKind::CultureDay => "Culture Day",
            HolidayKind::LabourThanksgivingDay => "Labour Thanksgiving Day",
            HolidayKind::Enthronement => "Enthronement holiday",
            HolidayKind::SubstituteHoliday => "Substitute Holiday",
            HolidayKind::CitizensHoliday => "Citizens' Holiday",
        }
    }
}

/// Dates written as `YYYY-MM-DD` (ISO 8601), for `#[serde(serialize_with)]`.
pub fn serialize_date<S: serde::Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(date)
}

/// A national holiday on a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Holiday {
    /// The date.
    #[serde(serialize_with = "serialize_date")]
    pub date: Date,
    /// Which holiday.
    pub kind: HolidayKind,
    /// Its Japanese name.
    pub name_ja: &'static str,
    /// Its English name.
    pub name_en: &'static str,
}

fn nth_monday(year: i32, month: Month, n: u8) -> Option<Date> {
    let first = Date::from_calendar_date(year, month, 1).ok()?;
    let to_monday = (7 + 1 - first.weekday().number_from_monday()) % 7;
    Date::from_calendar_date(year, month, 1 + to_monday + 7 * (n - 1)).ok()
}

/// The day of March of 春分 and of September of 秋分: the standard approximation
/// `floor(base + 0.242194 (y − 1980) − floor((y − 1980) / 4))`, in millionths so that no
/// floating point decides a holiday.
fn equinox_day(year: i32, base_millionths: i64) -> u8 {
    let y = i64::from(year) - 1980;
    let day = (base_millionths + 242_194 * y).div_euclid(1_000_000) - y.div_euclid(4);
    u8::try_from(day).unwrap_or(0)
}

/// The holidays the law names for a date (before 振替休日 and 国民の休日).
fn named(date: Date) -> Option<HolidayKind> {
    use HolidayKind as H;
    let year = date.year();
    let (month, day) = (date.month(), date.day());
    let is = |m: Month, n: u8| nth_monday(year, m, n) == Some(date);
    let kind = match (month, day) {
        (Month::January, 1) => H::NewYearsDay,
        (Month::January, _) if is(Month::January, 2) => H::ComingOfAgeDay,
        (Month::February, 11) => H::NationalFoundationDay,
        (Month::February, 23) if year >= 2020 => H::EmperorsBirthday,
        (Month::December, 23) if year <= 2018 => H::EmperorsBirthday,
        (Month::March, d) if d == equinox_day(year, 20_843_100) => H::VernalEquinoxDay,
        (Month::April, 29) => H::ShowaDay,
        (Month::May, 3) => H::ConstitutionMemorialDay,
        (Month::May, 4) if year >= 2007 => H::GreeneryDay,
        (Month::May, 5) => H::ChildrensDay,
        (Month::May, 1) | (Month::October, 22) if year == 2019 => H::Enthronement,
        (Month::July, 23) if year == 2020 => H::MarineDay,
        (Month::July, 22) if year == 2021 => H::MarineDay,
        (Month::July, _) if year >= 2003 && year != 2020 && year != 2021 && is(Month::July, 3) => {
            H::MarineDay
        }
        (Month::July, 20) if year < 2003 => H::MarineDay,
        (Month::August, 10) if year == 2020 => H::MountainDay,
        (Month::August, 8) if year == 2021 => H::MountainDay,
        (Month::August, 11) if year >= 2016 && year != 2020 && year != 2021 => H::MountainDay,
        (Month::September, _) if year >= 2003 && is(Month::September, 3) => H::RespectForTheAgedDay,
        (Month::September, 15) if year < 2003 => H::RespectForTheAgedDay,
        (Month::September, d) if d == equinox_day(year, 23_248_800) => H::AutumnalEquinoxDay,
        (Month::July, 24) if year == 2020 => H::SportsDay,
        (Month::July, 23) if year == 2021 => H::SportsDay,
        (Month::October, _) if year != 2020 && year != 2021 && is(Month::October, 2) => {
            H::SportsDay
        }
        (Month::November, 3) => H::CultureDay,
        (Month::November, 23) => H::LabourThanksgivingDay,
        _ => return None,
    };
    Some(kind)
}

/// The national holiday on `date`, if any; `None` outside [`SUPPORTED_YEARS`].
pub fn holiday(date: Date) -> Option<Holiday> {
    if !SUPPORTED_YEARS.contains(&date.year()) {
        return None;
    }
    let kind = named(date)
        .or_else(|| substitute(date).then_some(HolidayKind::SubstituteHoliday))
        .or_else(|| citizens(date).then_some(HolidayKind::CitizensHoliday))?;
    Some(Holiday {
        date,
        kind,
        name_ja: kind.name_ja(date.year()),
        name_en: kind.name_en(date.year()),
    })
}

/// 振替休日 (art. 3.2, since 2007 "the nearest day after it that is not a holiday"; before,
/// the Monday, which is the same day whenever it matters within 2000–2006): walking back over
/// named holidays from the day before, a Sunday holiday is reached.
fn substitute(date: Date) -> bool {
    if named(date).is_some() {
        return false;
    }
    let mut d = date;
    while let Some(prev) = d.previous_day() {
        if named(prev).is_none() {
            return false;
        }
        if prev.weekday() == Weekday::Sunday {
            return true;
        }
        d = prev;
    }
    false
}

/// 国民の休日 (art. 3.3): a day that is not a holiday itself, between two named holidays.
fn citizens(date: Date) -> bool {
    named(date).is_none()
        && date.weekday() != Weekday::Sunday
        && date.previous_day().and_then(named).is_some()
        && date.next_day().and_then(named).is_some()
}

/// Every national holiday of a year, in date order (empty outside [`SUPPORTED_YEARS`]).
pub fn holidays_of(year: i32) -> Vec<Holiday> {
    let Ok(mut d) = Date::from_calendar_date(year, Month::January, 1) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while d.year() == year {
        if let Some(h) = holiday(d) {
            out.push(h);
        }
        match d.next_day() {
            Some(n) => d = n,
            None => break,
        }
    }
    out
}

/// Why the office is closed on a day that is not a national holiday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedReason {
    /// The year-end closure, 29 December to 3 January (年末年始).
    YearEnd,
    /// A date in `[calendar] closed_days`.
    Configured,
}

/// What a day is for the office, beyond its weekday and business hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DayOff {
    /// A national holiday.
    Holiday(Holiday),
    /// The office is closed.
    Closed {
        /// The date.
        #[serde(serialize_with = "serialize_date")]
        date: Date,
        /// Why.
        reason: ClosedReason,
    },
}

/// The office's calendar: whether national holidays are days off, the year-end closure, and
/// the office's own closed days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeCalendar {
    /// National holidays are days off.
    pub national_holidays: bool,
    /// 29 December to 3 January is closed.
    pub year_end_closure: bool,
    /// Other closed days.
    pub closed_days: std::collections::BTreeSet<Date>,
}

impl Default for OfficeCalendar {
    /// National holidays and the year-end closure, no other closed day.
    fn default() -> Self {
        OfficeCalendar {
            national_holidays: true,
            year_end_closure: true,
            closed_days: Default::default(),
        }
    }
}

impl OfficeCalendar {
    /// What `date` (a local date) is, when it is not an ordinary day. A national holiday
    /// inside the year-end closure (元日) is named as the holiday.
    pub fn day_off(&self, date: Date) -> Option<DayOff> {
        if self.national_holidays {
            if let Some(h) = holiday(date) {
                return Some(DayOff::Holiday(h));
            }
        }
        let year_end = matches!(
            (date.month(), date.day()),
            (Month::December, 29..=31) | (Month::January, 1..=3)
        );
        if self.year_end_closure && year_end {
            return Some(DayOff::Closed {
                date,
                reason: ClosedReason::YearEnd,
            });
        }
        if self.closed_days.contains(&date) {
            return Some(DayOff::Closed {
                date,
                reason: ClosedReason::Configured,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn list(year: i32) -> Vec<(String, &'static str)> {
        holidays_of(year)
            .into_iter()
            .map(|h| (h.date.to_string(), h.name_ja))
            .collect()
    }

    fn expected(rows: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        rows.iter().map(|(d, n)| (d.to_string(), *n)).collect()
    }

    // The Cabinet Office's published list for 2026 (内閣府「国民の祝日について」).
    #[test]
    fn the_holidays_of_2026_are_the_published_ones() {
        assert_eq!(
            list(2026),
            expected(&[
                ("2026-01-01", "元日"),
                ("2026-01-12", "成人の日"),
                ("2026-02-11", "建国記念の日"),
                ("2026-02-23", "天皇誕生日"),
                ("2026-03-20", "春分の日"),
                ("2026-04-29", "昭和の日"),
                ("2026-05-03", "憲法記念日"),
                ("2026-05-04", "みどりの日"),
                ("2026-05-05", "こどもの日"),
                ("2026-05-06", "振替休日"),
                ("2026-07-20", "海の日"),
                ("2026-08-11", "山の日"),
                ("2026-09-21", "敬老の日"),
                ("2026-09-22", "国民の休日"),
                ("2026-09-23", "秋分の日"),
                ("2026-10-12", "スポーツの日"),
                ("2026-11-03", "文化の日"),
                ("2026-11-23", "勤労感謝の日"),
            ])
        );
    }

    // The Cabinet Office's published list for 2027.
    #[test]
    fn the_holidays_of_2027_are_the_published_ones() {
        assert_eq!(
            list(2027),
            expected(&[
                ("2027-01-01", "元日"),
                ("2027-01-11", "成人の日"),
                ("2027-02-11", "建国記念の日"),
                ("2027-02-23", "天皇誕生日"),
                ("2027-03-21", "春分の日"),
                ("2027-03-22", "振替休日"),
                ("2027-04-29", "昭和の日"),
                ("2027-05-03", "憲法記念日"),
                ("2027-05-04", "みどりの日"),
                ("2027-05-05", "こどもの日"),
                ("2027-07-19", "海の日"),
                ("2027-08-11", "山の日"),
                ("2027-09-20", "敬老の日"),
                ("2027-09-23", "秋分の日"),
                ("2027-10-11", "スポーツの日"),
                ("2027-11-03", "文化の日"),
                ("2027-11-23", "勤労感謝の日"),
            ])
        );
    }

    // Years whose special cases the rules must get right: the 2019 enthronement (its 国民の休日
    // on 30 April and 2 May), the Olympic moves of 2020 and 2021, and a 振替休日 that walks
    // over two holidays (2020-05-06: 3 May a Sunday).
    #[test]
    fn the_special_years_follow_the_laws_of_their_day() {
        let names = |year| {
            list(year)
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let y2019 = names(2019);
        assert_eq!(y2019["2019-04-30"], "国民の休日");
        assert_eq!(y2019["2019-05-01"], "即位の日・即位礼正殿の儀の行われる日");
        assert_eq!(y2019["2019-05-02"], "国民の休日");
        assert_eq!(y2019["2019-10-22"], "即位の日・即位礼正殿の儀の行われる日");
        assert!(!y2019.contains_key("2019-12-23"));
        assert!(!y2019.contains_key("2019-02-23"));
        let y2020 = names(2020);
        assert_eq!(y2020["2020-07-23"], "海の日");
        assert_eq!(y2020["2020-07-24"], "スポーツの日");
        assert_eq!(y2020["2020-08-10"], "山の日");
        assert_eq!(y2020["2020-05-06"], "振替休日");
        assert!(!y2020.contains_key("2020-10-12"));
        let y2021 = names(2021);
        assert_eq!(y2021["2021-07-22"], "海の日");
        assert_eq!(y2021["2021-07-23"], "スポーツの日");
        assert_eq!(y2021["2021-08-08"], "山の日");
        assert_eq!(y2021["2021-08-09"], "振替休日");
        assert_eq!(names(2018)["2018-12-24"], "振替休日");
        assert_eq!(names(2015)["2015-09-22"], "国民の休日");
        assert!(holidays_of(1999).is_empty(), "outside the supported years");
    }

    #[test]
    fn the_office_closes_at_the_year_end_and_on_its_own_days() {
        let d = |s: &str| {
            Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).unwrap()
        };
        let mut calendar = OfficeCalendar::default();
        calendar.closed_days.insert(d("2026-08-14"));
        assert!(matches!(
            calendar.day_off(d("2026-11-03")),
            Some(DayOff::Holiday(Holiday {
                kind: HolidayKind::CultureDay,
                ..
            }))
        ));
        for closed in ["2026-12-29", "2026-12-31", "2027-01-02", "2027-01-03"] {
            assert_eq!(
                calendar.day_off(d(closed)),
                Some(DayOff::Closed {
                    date: d(closed),
                    reason: ClosedReason::YearEnd
                }),
                "{closed}"
            );
        }
        assert!(matches!(
            calendar.day_off(d("2027-01-01")),
            Some(DayOff::Holiday(_))
        ));
        assert_eq!(calendar.day_off(d("2026-12-28")), None);
        assert_eq!(calendar.day_off(d("2027-01-04")), None);
        assert_eq!(
            calendar.day_off(d("2026-08-14")),
            Some(DayOff::Closed {
                date: d("2026-08-14"),
                reason: ClosedReason::Configured
            })
        );
        let open = OfficeCalendar {
            national_holidays: false,
            year_end_closure: false,
            closed_days: Default::default(),
        };
        assert_eq!(open.day_off(d("2026-11-03")), None);
        assert_eq!(open.day_off(d("2026-12-30")), None);
    }
}
