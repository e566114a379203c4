//! The resume-token decoder (`server::resume::decode`, `check`), on any text and on the
//! hex of any bytes: never panics; what it accepts names a valid user, is at most
//! `MAX_TOKEN_CHARS` long and has one spelling (minted again from its claims, it differs
//! at most in the tag); `check` takes exactly the tokens minted with its secret, and
//! refuses as expired one whose time is over.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::names;
use peerhub::server::resume::{self, TokenError, MAX_TOKEN_CHARS};
use peerhub::trust::ResumeSecret;

/// Bytes of the signature, as hex digits at the end of a token.
const TAG_CHARS: usize = 64;

fn token(text: &str, secret: &ResumeSecret, wall: u64) {
    let checked = resume::check(secret, text, wall);
    let Ok((claims, _tag)) = resume::decode(text) else {
        assert!(
            matches!(checked, Err(TokenError::Malformed(_))),
            "{checked:?}"
        );
        return;
    };
    assert!(names::check_user(&claims.user).is_ok(), "{claims:?}");
    assert!(text.len() <= MAX_TOKEN_CHARS && text.len() > TAG_CHARS);
    let minted = resume::mint(secret, &claims);
    let cut = text.len() - TAG_CHARS;
    assert_eq!(minted.len(), text.len());
    assert_eq!(minted[..cut], text[..cut], "two spellings of {claims:?}");
    match checked {
        Ok(c) => assert!(c == claims && minted == text && claims.expires > wall),
        Err(TokenError::Expired) => assert!(minted == text && claims.expires <= wall),
        Err(TokenError::Forged) => assert_ne!(minted, text),
        Err(TokenError::Malformed(why)) => panic!("decoded, then malformed: {why}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let secret = ResumeSecret::from_bytes([7; 32]);
    // The first eight bytes are the wall clock, the rest the token.
    let (wall, rest) = data.split_at(data.len().min(8));
    let mut clock = [0u8; 8];
    clock[..wall.len()].copy_from_slice(wall);
    let wall = u64::from_be_bytes(clock);
    if let Ok(text) = std::str::from_utf8(rest) {
        token(text, &secret, wall);
    }
    let hex: String = rest.iter().map(|b| format!("{b:02x}")).collect();
    token(&hex, &secret, wall);
});
