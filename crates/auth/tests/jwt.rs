//! JWT validation: every failure has its own error; `none` and alg confusion are refused.

use base64::Engine;
use mcpflow_auth::testing::{Signer, TestIssuer, now};
use mcpflow_auth::{AuthError, PrincipalKind};

fn issuer() -> TestIssuer {
    TestIssuer::new("https://idp.test", "https://mcp.test/mcp")
}

#[test]
fn valid_tokens_of_each_algorithm_give_the_principal() {
    let iss = issuer();
    let v = iss.validator();
    for signer in [Signer::Hs256, Signer::Rs256, Signer::EdDsa] {
        let mut claims = iss.claims("alice", "acme", &["reader"]);
        claims["kind"] = "agent".into();
        let p = v.validate(&iss.sign(signer, &claims)).unwrap();
        assert_eq!(p.id, "alice", "{signer:?}");
        assert_eq!(p.tenant, "acme");
        assert_eq!(p.roles, vec!["reader".to_owned()]);
        assert_eq!(p.kind, PrincipalKind::Agent);
    }
}

#[test]
fn expired_and_not_yet_valid() {
    let iss = issuer();
    let v = iss.validator();
    let mut c = iss.claims("a", "t", &[]);
    c["exp"] = (now() - 3600).into();
    assert_eq!(
        v.validate(&iss.sign(Signer::Rs256, &c)),
        Err(AuthError::Expired)
    );
    let mut c = iss.claims("a", "t", &[]);
    c["nbf"] = (now() + 3600).into();
    assert_eq!(
        v.validate(&iss.sign(Signer::EdDsa, &c)),
        Err(AuthError::NotYetValid)
    );
    // Within the leeway (5 s) both pass.
    let mut c = iss.claims("a", "t", &[]);
    c["exp"] = (now() - 1).into();
    c["nbf"] = (now() + 1).into();
    assert!(v.validate(&iss.sign(Signer::Hs256, &c)).is_ok());
}

#[test]
fn forged_signature_wrong_audience_wrong_issuer_unknown_kid() {
    let iss = issuer();
    let v = iss.validator();
    let c = iss.claims("a", "t", &[]);
    assert_eq!(
        v.validate(&iss.sign(Signer::ForgedRs256, &c)),
        Err(AuthError::BadSignature)
    );
    let mut wrong_aud = c.clone();
    wrong_aud["aud"] = "https://other.test/mcp".into();
    assert!(matches!(
        v.validate(&iss.sign(Signer::Rs256, &wrong_aud)),
        Err(AuthError::WrongAudience { .. })
    ));
    let mut no_aud = c.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert!(matches!(
        v.validate(&iss.sign(Signer::Rs256, &no_aud)),
        Err(AuthError::WrongAudience { .. })
    ));
    let mut wrong_iss = c.clone();
    wrong_iss["iss"] = "https://evil.test".into();
    assert!(matches!(
        v.validate(&iss.sign(Signer::Hs256, &wrong_iss)),
        Err(AuthError::WrongIssuer { .. })
    ));
    // A token signed by a key that is not in the JWKS, naming its own kid.
    let other = TestIssuer::new("https://idp.test", "https://mcp.test/mcp");
    let token = other.sign(Signer::EdDsa, &c);
    assert_eq!(
        v.validate(&token),
        Err(AuthError::BadSignature),
        "same kid, other key"
    );
    let tampered = token.replacen(
        &token[..token.find('.').unwrap()],
        &b64(r#"{"alg":"EdDSA","kid":"ed-9"}"#),
        1,
    );
    assert_eq!(
        v.validate(&tampered),
        Err(AuthError::UnknownKid { kid: "ed-9".into() })
    );
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn alg_none_and_alg_confusion_are_refused() {
    let iss = issuer();
    let v = iss.validator();
    let claims = b64(&iss.claims("a", "t", &[]).to_string());
    let none = format!("{}.{claims}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    assert!(
        matches!(v.validate(&none), Err(AuthError::AlgNotAllowed { alg, .. }) if alg == "none")
    );
    // HS256 with the RSA public key as HMAC secret: HS256 is checked only against the shared
    // secret, so the signature does not verify.
    let confused = iss.sign(Signer::ConfusedHs256, &iss.claims("a", "t", &[]));
    assert_eq!(v.validate(&confused), Err(AuthError::BadSignature));
    // Without a configured secret HS256 is not accepted at all.
    let rsa_only =
        mcpflow_auth::jwt::JwtValidator::new(&iss.config(), None, Some(iss.jwks())).unwrap();
    assert!(matches!(
        rsa_only.validate(&confused),
        Err(AuthError::AlgNotAllowed { .. })
    ));
    // An RS256 header naming the Ed25519 key.
    let header = b64(r#"{"alg":"RS256","kid":"ed-1"}"#);
    let token = format!("{header}.{claims}.c2ln");
    assert!(matches!(
        v.validate(&token),
        Err(AuthError::AlgNotAllowed { .. })
    ));
    // Algorithms we never accept.
    let header = b64(r#"{"alg":"HS512"}"#);
    assert!(matches!(
        v.validate(&format!("{header}.{claims}.c2ln")),
        Err(AuthError::AlgNotAllowed { .. })
    ));
}

#[test]
fn missing_tenant_is_refused_unless_defaulted() {
    let iss = issuer();
    let mut c = iss.claims("a", "t", &[]);
    c.as_object_mut().unwrap().remove("tenant");
    let token = iss.sign(Signer::Hs256, &c);
    assert!(matches!(
        iss.validator().validate(&token),
        Err(AuthError::InvalidClaims(_))
    ));
    let mut config = iss.config();
    config.default_tenant = Some("public".into());
    let v = mcpflow_auth::jwt::JwtValidator::new(&config, Some(&iss.secret), None).unwrap();
    assert_eq!(v.validate(&token).unwrap().tenant, "public");
}

#[test]
fn short_secret_and_keyless_configs_are_refused() {
    let iss = issuer();
    let err =
        mcpflow_auth::jwt::JwtValidator::new(&iss.config(), Some(b"short"), None).unwrap_err();
    assert!(err.to_string().contains("32"), "{err}");
    let err = mcpflow_auth::jwt::JwtValidator::new(&iss.config(), None, None).unwrap_err();
    assert!(err.to_string().contains("jwks_file"), "{err}");
}

proptest::proptest! {
    #[test]
    fn garbage_never_panics_and_never_validates(s in ".{0,200}") {
        let iss = issuer();
        proptest::prop_assert!(iss.validator().validate(&s).is_err());
    }
}
