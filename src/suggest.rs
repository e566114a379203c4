//! "Did you mean …?": the known word closest to a mistyped one (client and hub console).

/// The word of `known` closest to `typed` (ASCII case ignored), if it is close enough
/// to be a likely typo: a prefix of at least two letters, or an edit distance of at
/// most 1 for short words and 2 for words of five letters or more.
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed = typed.to_ascii_lowercase();
    if typed.is_empty() {
        return None;
    }
    let allowed = if typed.chars().count() >= 5 { 2 } else { 1 };
    let mut best: Option<(usize, &str)> = None;
    for word in known {
        let distance = if typed.len() >= 2 && word.starts_with(typed.as_str()) {
            // An unambiguous start of a word counts as one edit.
            1
        } else {
            edit_distance(&typed, word)
        };
        if distance <= allowed && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, word));
        }
    }
    best.map(|(_, word)| word)
}

/// The text "; did you mean X?" for a mistyped word, or nothing.
pub fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(typed, known)
        .map(|w| format!("; did you mean {w:?}?"))
        .unwrap_or_default()
}

/// Levenshtein distance over characters, with adjacent transpositions counting as one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for transpositions), one back, and the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS: &[&str] = &["login", "logout", "search", "fetch", "store", "status"];

    #[test]
    fn typos_find_the_closest_word() {
        let near = |t| closest(t, WORDS.iter().copied());
        assert_eq!(near("serach"), Some("search"));
        assert_eq!(near("fecth"), Some("fetch"));
        assert_eq!(near("logn"), Some("login"));
        assert_eq!(near("LOGIM"), Some("login"));
        assert_eq!(near("stor"), Some("store"));
        assert_eq!(near("sea"), Some("search"));
        assert_eq!(near("frob"), None);
        assert_eq!(near("x"), None);
        assert_eq!(near(""), None);
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "acb"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn the_hint_reads_as_a_question() {
        assert_eq!(
            did_you_mean("serch", WORDS.iter().copied()),
            "; did you mean \"search\"?"
        );
        assert_eq!(did_you_mean("zzzz", WORDS.iter().copied()), "");
    }
}
