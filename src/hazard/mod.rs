//! The vocabulary of hazard warnings, shared by the config (playbooks,
//! zone locations, volcanoes) and the readers of the feeds: CAP's
//! severities, InaTEWS's tsunami levels, PVMBG's volcano levels, and the
//! geometry that says whether a zone lies inside an alert's area
//! (`geo.rs`). A leaf: it imports nothing else from corong.

pub mod geo;

use std::fmt;

/// CAP 1.2 `<severity>`, least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Unknown,
    Minor,
    Moderate,
    Severe,
    Extreme,
}

impl Severity {
    /// Every value, as CAP spells it.
    pub const NAMES: [&'static str; 5] = ["Unknown", "Minor", "Moderate", "Severe", "Extreme"];

    /// As CAP spells it (case-sensitive, as the spec's enumeration is).
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "Unknown" => Severity::Unknown,
            "Minor" => Severity::Minor,
            "Moderate" => Severity::Moderate,
            "Severe" => Severity::Severe,
            "Extreme" => Severity::Extreme,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An InaTEWS tsunami warning level for one district, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TsunamiLevel {
    /// Under 0.5 m: stay off beaches and river mouths.
    Waspada,
    /// 0.5 to 3 m: sirens, evacuate the coast.
    Siaga,
    /// Over 3 m: full evacuation.
    Awas,
}

impl TsunamiLevel {
    pub const NAMES: [&'static str; 3] = ["WASPADA", "SIAGA", "AWAS"];

    /// As the bulletins write it; case is not significant.
    pub fn parse(s: &str) -> Option<TsunamiLevel> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "WASPADA" => TsunamiLevel::Waspada,
            "SIAGA" => TsunamiLevel::Siaga,
            "AWAS" => TsunamiLevel::Awas,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl fmt::Display for TsunamiLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A volcano's alert level as PVMBG sets it: 1 Normal, 2 Waspada, 3
/// Siaga, 4 Awas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolcanoLevel(u8);

impl VolcanoLevel {
    pub const NORMAL: VolcanoLevel = VolcanoLevel(1);
    pub const AWAS: VolcanoLevel = VolcanoLevel(4);

    /// 1..=4, or the level's name (`normal`, `waspada`, `siaga`, `awas`).
    pub fn parse(s: &str) -> Option<VolcanoLevel> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u8>() {
            return VolcanoLevel::new(n);
        }
        let n = match s.to_ascii_lowercase().as_str() {
            "normal" => 1,
            "waspada" => 2,
            "siaga" => 3,
            "awas" => 4,
            _ => return None,
        };
        VolcanoLevel::new(n)
    }

    pub fn new(n: u8) -> Option<VolcanoLevel> {
        (1..=4).contains(&n).then_some(VolcanoLevel(n))
    }

    pub fn number(self) -> u8 {
        self.0
    }

    pub fn name(self) -> &'static str {
        ["Normal", "Waspada", "Siaga", "Awas"][self.0 as usize - 1]
    }
}

impl fmt::Display for VolcanoLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Severity::NAMES {
            assert_eq!(Severity::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(Severity::parse("severe"), None);
        assert!(Severity::Extreme > Severity::Severe);
        for name in TsunamiLevel::NAMES {
            assert_eq!(TsunamiLevel::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(TsunamiLevel::parse(" siaga "), Some(TsunamiLevel::Siaga));
        assert_eq!(VolcanoLevel::parse("awas"), Some(VolcanoLevel::AWAS));
        assert_eq!(VolcanoLevel::parse("3").unwrap().name(), "Siaga");
        assert_eq!(VolcanoLevel::parse("5"), None);
        assert_eq!(VolcanoLevel::parse("0"), None);
    }
}
