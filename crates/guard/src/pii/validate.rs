//! Checksums and structural rules that separate real identifiers from look-alike digit runs.

/// Luhn (mod 10) check used by payment cards. `digits` must be ASCII digits only.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.len() < 2 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// A plausible payment card number: 12–19 digits, Luhn-valid, not one repeated digit.
pub fn card(digits: &[u8]) -> bool {
    (12..=19).contains(&digits.len())
        && luhn(digits)
        && digits.iter().any(|d| *d != digits[0])
        && digits[0] != b'0'
}

/// IBAN length per country (ISO 13616 registry), for the countries that issue them.
fn iban_length(country: &[u8]) -> Option<usize> {
    Some(match country {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BR" => 29,
        b"BY" => 28,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IQ" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NL" => 18,
        b"NO" => 15,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"SA" => 24,
        b"SC" => 31,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        _ => return None,
    })
}

/// IBAN: known country, the country's length, and the ISO 7064 mod-97 check equal to 1.
/// `compact` is the IBAN without spaces, any letter case.
pub fn iban(compact: &[u8]) -> bool {
    if compact.len() < 15 || !compact.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let upper: Vec<u8> = compact.iter().map(u8::to_ascii_uppercase).collect();
    if !upper[0].is_ascii_alphabetic()
        || !upper[1].is_ascii_alphabetic()
        || !upper[2].is_ascii_digit()
        || !upper[3].is_ascii_digit()
    {
        return false;
    }
    if iban_length(&upper[..2]) != Some(upper.len()) {
        return false;
    }
    // Move the first four characters to the end, letters become 10..35, take mod 97
    // digit by digit so no big integer is needed.
    let mut rem: u32 = 0;
    for &c in upper[4..].iter().chain(&upper[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            let v = u32::from(c - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
}

/// US Social Security Number structure: area not 000, 666 or 900–999; group not 00; serial
/// not 0000. `area`, `group`, `serial` are the three digit groups.
pub fn ssn(area: &[u8], group: &[u8], serial: &[u8]) -> bool {
    let num = |d: &[u8]| {
        d.iter().try_fold(0u32, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let (Some(a), Some(g), Some(s)) = (num(area), num(group), num(serial)) else {
        return false;
    };
    area.len() == 3
        && group.len() == 2
        && serial.len() == 4
        && a != 0
        && a != 666
        && a < 900
        && g != 0
        && s != 0
        // Numbers the SSA itself published as examples, never issued.
        && !(a == 78 && g == 5 && s == 1120)
        && !(a == 219 && g == 9 && s == 9999)
}

/// Email local part and domain sanity beyond the regex: no leading, trailing or doubled dots.
pub fn email(candidate: &str) -> bool {
    let Some((local, domain)) = candidate.rsplit_once('@') else {
        return false;
    };
    let ok =
        |p: &str| !p.is_empty() && !p.starts_with('.') && !p.ends_with('.') && !p.contains("..");
    ok(local) && ok(domain) && domain.contains('.') && local.len() <= 64 && domain.len() <= 253
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_valid_and_rejects_a_changed_digit() {
        assert!(card(b"4111111111111111"));
        assert!(card(b"4454794511390933"));
        assert!(card(b"347415977307943"));
        assert!(!card(b"4111111111111112"));
        assert!(!card(b"0000000000000000"));
        assert!(!card(b"12345"));
        assert!(!luhn(b"12a4"));
    }

    #[test]
    fn iban_checks_country_length_and_mod97() {
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(iban(b"gb82west12345698765432"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(!iban(b"GB82WEST12345698765433"), "checksum");
        assert!(!iban(b"GB82WEST1234569876543"), "length");
        assert!(!iban(b"ZZ82WEST12345698765432"), "country");
        assert!(!iban(b"GB8"));
    }

    #[test]
    fn ssn_area_group_serial_rules() {
        assert!(ssn(b"460", b"89", b"9847"));
        assert!(ssn(b"853", b"37", b"1694"));
        assert!(!ssn(b"000", b"12", b"3456"));
        assert!(!ssn(b"666", b"12", b"3456"));
        assert!(!ssn(b"912", b"12", b"3456"));
        assert!(!ssn(b"123", b"00", b"3456"));
        assert!(!ssn(b"123", b"45", b"0000"));
        assert!(!ssn(b"078", b"05", b"1120"));
        assert!(!ssn(b"12", b"45", b"6789"));
    }

    #[test]
    fn email_structure() {
        assert!(email("a.b@example.com"));
        assert!(!email(".a@example.com"));
        assert!(!email("a..b@example.com"));
        assert!(!email("a@localhost"));
    }
}
