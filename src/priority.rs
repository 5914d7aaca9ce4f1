//! Job priorities: a number 0..=255, with the names of the operator contract.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How urgent a job is. On each zone the highest priority plays; equal
/// priorities play first come, first served.
///
/// Names from the operator contract: `background` 10, `program` 50,
/// `announcement` 100, `live` 150, `emergency` 250. Any number 0..=255 is
/// accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "u8")]
pub struct Priority(pub u8);

impl Priority {
    pub const BACKGROUND: Priority = Priority(10);
    pub const PROGRAM: Priority = Priority(50);
    pub const ANNOUNCEMENT: Priority = Priority(100);
    pub const LIVE: Priority = Priority(150);
    pub const EMERGENCY: Priority = Priority(250);

    const NAMES: [(&'static str, Priority); 5] = [
        ("background", Priority::BACKGROUND),
        ("program", Priority::PROGRAM),
        ("announcement", Priority::ANNOUNCEMENT),
        ("live", Priority::LIVE),
        ("emergency", Priority::EMERGENCY),
    ];

    /// The contract's name for this level, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The error for a priority that is neither a known name nor a number 0..=255.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown priority `{0}`: expected background, program, announcement, live, emergency or a number 0..=255")]
pub struct UnknownPriority(pub String);

impl FromStr for Priority {
    type Err = UnknownPriority;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some((_, p)) = Self::NAMES.iter().find(|(n, _)| *n == lower) {
            return Ok(*p);
        }
        lower
            .parse::<u8>()
            .map(Priority)
            .map_err(|_| UnknownPriority(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => u8::try_from(n)
                .map(Priority)
                .map_err(|_| serde::de::Error::custom(UnknownPriority(n.to_string()))),
            Raw::Name(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_parse() {
        assert_eq!("emergency".parse::<Priority>().unwrap(), Priority(250));
        assert_eq!("Program".parse::<Priority>().unwrap(), Priority(50));
        assert_eq!("77".parse::<Priority>().unwrap(), Priority(77));
        assert!("256".parse::<Priority>().is_err());
        assert!("urgent".parse::<Priority>().is_err());
    }

    #[test]
    fn display_uses_names_when_known() {
        assert_eq!(Priority(100).to_string(), "announcement");
        assert_eq!(Priority(101).to_string(), "101");
    }
}
