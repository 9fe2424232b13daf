//! Name patterns with `*` (any run of characters, `/` included) and `?`
//! (exactly one character), as AMS documents for `clearSharedObjects`.

/// Whether `name` matches `pattern`.
///
/// Iterative with one backtrack point, so it runs in O(pattern × name) at
/// worst and never recurses, whatever a name looks like.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    // Where the last `*` was, and the name position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether `pattern` contains a wildcard (otherwise it names one SO exactly).
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything/at/all"));
        assert!(matches("chat", "chat"));
        assert!(!matches("chat", "chats"));
        assert!(matches("chat*", "chat"));
        assert!(matches("chat*", "chat.room/1"));
        assert!(matches("XX??", "XXab"));
        assert!(!matches("XX??", "XXabc"));
        assert!(!matches("XX??", "XXa"));
        assert!(matches("a*b*c", "aXXbYYbZc"));
        assert!(!matches("a*b*c", "aXXbYYbZ"));
        assert!(matches("*.presence", "room.presence"));
        assert!(matches("?é*", "xé"));
        assert!(!matches("", "a"));
        assert!(matches("**", "abc"));
    }

    #[test]
    fn detects_patterns() {
        assert!(is_pattern("a*"));
        assert!(is_pattern("a?"));
        assert!(!is_pattern("a.b"));
    }
}
