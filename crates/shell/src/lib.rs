//! Quoting words for a POSIX shell (`sh -c`). One rule for everything the provider runs on a host,
//! so that a command line reads the same in the code that builds it, in logs and in errors.

use std::borrow::Cow;

/// Quotes one word for a POSIX shell: a word made only of characters no shell treats specially
/// stays as it is, anything else is single-quoted (an empty word becomes `''`).
pub fn shell_quote(word: &str) -> Cow<'_, str> {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-+=.,/:@%".contains(&b));
    if safe {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// A command line from words, each quoted with [`shell_quote`] and separated by one space.
pub fn shell_join<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> String {
    let mut line = String::new();
    for word in words {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&shell_quote(word.as_ref()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_plain_words_and_protects_the_rest() {
        assert_eq!(shell_quote("v1.29.3+k0s.0"), "v1.29.3+k0s.0");
        assert_eq!(shell_quote("--labels=a=b,c=d"), "--labels=a=b,c=d");
        assert_eq!(shell_quote("/usr/local/bin/k0s"), "/usr/local/bin/k0s");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(shell_quote("~root"), "'~root'");
        assert_eq!(
            shell_quote("jsonpath={.metadata.uid}"),
            "'jsonpath={.metadata.uid}'"
        );
    }

    #[test]
    fn plain_words_are_borrowed() {
        assert!(matches!(shell_quote("kubectl"), Cow::Borrowed("kubectl")));
    }

    #[test]
    fn join_separates_quoted_words_with_one_space() {
        assert_eq!(
            shell_join(["printf", "%s\\n", "a b", ""]),
            r"printf '%s\n' 'a b' ''"
        );
        assert_eq!(shell_join(Vec::<String>::new()), "");
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        let tricky = [
            "a b",
            "it's",
            "$HOME",
            "`id`",
            "\\",
            "\"",
            "*",
            "new\nline",
            "",
            "--x='y'",
            "plain",
        ];
        let script = format!("printf '%s\\0' {}", shell_join(tricky));
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh runs");
        let words: Vec<String> = String::from_utf8(output.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(str::to_owned)
            .collect();
        assert_eq!(words, tricky);
    }
}
