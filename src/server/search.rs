//! The substring index behind `Search`: every published name under its lowercased
//! trigrams, and all names in order. A search looks at the names of its rarest
//! trigram (or, for a text shorter than three bytes, at the names in order) and
//! examines at most [`SCAN_LIMIT`] of them, so its cost is bounded by what it returns,
//! never by the size of the index.

use slab::Slab;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Most names one search examines; past that its reply says `truncated`.
pub const SCAN_LIMIT: usize = 2048;

/// The names, their trigrams, and their order.
#[derive(Debug, Default)]
pub struct SearchIndex {
    /// Each name and its lowercased form, by id.
    names: Slab<(Box<str>, Box<str>)>,
    grams: HashMap<[u8; 3], HashSet<u32>>,
    ordered: BTreeMap<Box<str>, u32>,
}

/// Candidates for one search: whether they come in name order, and their names.
pub struct Candidates<'a> {
    pub ordered: bool,
    pub names: Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a>,
}

fn trigrams(lower: &str) -> impl Iterator<Item = [u8; 3]> + '_ {
    lower.as_bytes().windows(3).map(|w| [w[0], w[1], w[2]])
}

impl SearchIndex {
    /// Index `name`; the id to remove it with.
    pub fn insert(&mut self, name: &str, lower: &str) -> u32 {
        let id = self.names.insert((name.into(), lower.into())) as u32;
        for gram in trigrams(lower) {
            self.grams.entry(gram).or_default().insert(id);
        }
        self.ordered.insert(name.into(), id);
        id
    }

    /// Forget the name with this id.
    pub fn remove(&mut self, id: u32) {
        let Some((name, lower)) = self.names.try_remove(id as usize) else {
            return;
        };
        for gram in trigrams(&lower) {
            if let Some(ids) = self.grams.get_mut(&gram) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.grams.remove(&gram);
                }
            }
        }
        self.ordered.remove(&name);
    }

    /// Names that may contain `needle` (already lowercased) as (name, lowercased),
    /// at most [`SCAN_LIMIT`]: the caller checks each.
    pub fn candidates<'a>(&'a self, needle: &str) -> Candidates<'a> {
        if needle.len() < 3 {
            let names = self
                .ordered
                .values()
                .filter_map(|id| self.names.get(*id as usize))
                .map(|(name, lower)| (&**name, &**lower))
                .take(SCAN_LIMIT);
            return Candidates {
                ordered: true,
                names: Box::new(names),
            };
        }
        let rarest = trigrams(needle)
            .map(|gram| self.grams.get(&gram))
            .min_by_key(|ids| ids.map_or(0, HashSet::len))
            .flatten();
        let names = rarest
            .into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.names.get(*id as usize))
            .map(|(name, lower)| (&**name, &**lower))
            .take(SCAN_LIMIT);
        Candidates {
            ordered: false,
            names: Box::new(names),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_for(index: &SearchIndex, needle: &str) -> Vec<String> {
        let c = index.candidates(needle);
        let mut v: Vec<String> = c
            .names
            .filter(|(_, lower)| lower.contains(needle))
            .map(|(n, _)| n.to_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn finds_substrings_and_forgets_removed_names() {
        let mut index = SearchIndex::default();
        let a = index.insert("Report.PDF", "report.pdf");
        index.insert("notes.txt", "notes.txt");
        index.insert("old-report.pdf", "old-report.pdf");
        assert_eq!(
            names_for(&index, "report"),
            vec!["Report.PDF", "old-report.pdf"]
        );
        assert_eq!(names_for(&index, "zzz"), Vec::<String>::new());
        index.remove(a);
        assert_eq!(names_for(&index, "port"), vec!["old-report.pdf"]);
        assert_eq!(names_for(&index, ""), vec!["notes.txt", "old-report.pdf"]);
        assert_eq!(index.grams[b"rep"].len(), 1, "its trigrams are gone");
        let z = index.insert("zulu", "zulu");
        index.remove(z);
        assert!(
            !index.grams.contains_key(b"zul"),
            "an empty trigram is dropped"
        );
    }

    #[test]
    fn a_search_examines_a_bounded_number_of_names() {
        let mut index = SearchIndex::default();
        for i in 0..10_000 {
            let name = format!("file-{i:05}.bin");
            index.insert(&name, &name);
        }
        let all = index.candidates("");
        assert!(all.ordered);
        assert_eq!(all.names.count(), SCAN_LIMIT);
        assert_eq!(index.candidates(".bin").names.count(), SCAN_LIMIT);
        let rare = index.candidates("00042").names.count();
        assert!(rare < 500, "the rarest trigram bounds the scan: {rare}");
    }
}
