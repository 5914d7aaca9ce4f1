//! "Did you mean": the nearest of some names to a word an operator typed,
//! for the config checker and the daemon's replies alike.

/// The candidate within edit distance 2 of `word` (or equal to it but for
/// case), if any.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| {
            let d = if c.eq_ignore_ascii_case(word) {
                0
            } else {
                edit_distance(word, c)
            };
            (d, c)
        })
        .filter(|(d, c)| *d <= 2 && *d < c.len().max(word.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_and_other_cases_are_suggested() {
        let names = ["pasar", "alun-alun", "kelurahan"];
        assert_eq!(closest("pasr", names.iter().copied()), Some("pasar"));
        assert_eq!(closest("Pasar", names.iter().copied()), Some("pasar"));
        assert_eq!(closest("PASAR", names.iter().copied()), Some("pasar"));
        assert_eq!(closest("sekolah", names.iter().copied()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            closest("codc", ["codec", "channels"].into_iter()),
            Some("codec")
        );
        assert_eq!(closest("zzzzzz", ["codec"].into_iter()), None);
    }
}
