//! Resume tokens minted and checked: the round trip, expiry, forged and altered tags,
//! and strict decoding of garbage.

use super::*;

fn secret(byte: u8) -> ResumeSecret {
    ResumeSecret::from_bytes([byte; 32])
}

fn claims(user: &str, version: u64, expires: u64) -> Claims {
    Claims {
        user: user.into(),
        version,
        expires,
    }
}

#[test]
fn a_minted_token_checks_until_it_expires() {
    let s = secret(1);
    let c = claims("alice", 7, 1_000);
    let token = mint(&s, &c);
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(token.len(), 2 * (FIXED_BYTES + "alice".len()));
    assert_eq!(check(&s, &token, 0), Ok(c.clone()));
    assert_eq!(check(&s, &token, 999), Ok(c.clone()));
    assert_eq!(check(&s, &token, 1_000), Err(TokenError::Expired));
    assert_eq!(check(&s, &token, u64::MAX), Err(TokenError::Expired));
    assert_eq!(mint(&s, &c), token, "one token per claims and secret");
    let longest = mint(
        &s,
        &claims(&"a".repeat(names::MAX_USER_LEN), u64::MAX, u64::MAX),
    );
    assert_eq!(longest.len(), MAX_TOKEN_CHARS);
    assert!(check(&s, &longest, 0).is_ok());
}

#[test]
fn another_secret_or_an_altered_token_is_forged() {
    let s = secret(1);
    let token = mint(&s, &claims("alice", 7, 1_000));
    assert_eq!(check(&secret(2), &token, 0), Err(TokenError::Forged));
    // Each claim changed under the old tag: the tag no longer matches.
    let (_, tag) = decode(&token).unwrap();
    for other in [
        claims("alicf", 7, 1_000),
        claims("alice", 8, 1_000),
        claims("alice", 7, 1_000_000),
    ] {
        let mut bytes = signed_bytes(&other);
        bytes.extend_from_slice(&tag);
        assert_eq!(
            check(&s, &hex(&bytes), 0),
            Err(TokenError::Forged),
            "{other:?}"
        );
    }
    // Any digit of the tag flipped.
    for i in [token.len() - 64, token.len() - 1] {
        let mut t = token.clone().into_bytes();
        t[i] = if t[i] == b'0' { b'1' } else { b'0' };
        let t = String::from_utf8(t).unwrap();
        assert_eq!(check(&s, &t, 0), Err(TokenError::Forged));
    }
}

#[test]
fn garbage_is_malformed() {
    let s = secret(1);
    let token = mint(&s, &claims("alice", 7, 1_000));
    let malformed = |text: &str| {
        assert!(
            matches!(check(&s, text, 0), Err(TokenError::Malformed(_))),
            "{text:?} was not refused as malformed"
        )
    };
    malformed("");
    malformed("0");
    malformed("zz");
    malformed("01");
    malformed(&token.to_uppercase());
    malformed(&token[..token.len() - 2]);
    malformed(&format!("{token}00"));
    malformed(&format!(" {token}"));
    malformed(&format!("02{}", &token[2..]));
    malformed(&"00".repeat(MAX_TOKEN_CHARS));
    malformed(&"é".repeat(60));
    // A user that is not a user name, signed as if it were.
    for user in ["", "bad name", "-x", "\u{e9}t\u{e9}"] {
        let mut bytes = signed_bytes(&claims(user, 1, 1_000));
        let tag = s.sign(&bytes);
        bytes.extend_from_slice(&tag);
        malformed(&hex(&bytes));
    }
}

#[test]
fn errors_say_what_went_wrong_without_the_token() {
    assert_eq!(TokenError::Expired.to_string(), "resume token expired");
    assert_eq!(
        TokenError::Malformed("odd length").to_string(),
        "malformed resume token: odd length"
    );
    assert!(TokenError::Forged.to_string().contains("not signed"));
}
