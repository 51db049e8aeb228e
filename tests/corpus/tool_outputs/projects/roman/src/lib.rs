/// Roman numerals, with a deliberate off-by-one in the parser and an unused variable.
pub fn to_roman(mut n: u32) -> String {
    let table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                 (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")];
    let unused = 3;
    let mut out = String::new();
    for (value, digits) in table.iter() {
        while n >= *value { out.push_str(digits); n -= value; }
    }
    out
}

pub fn from_roman(s: &str) -> Option<u32> {
    let value = |c| match c { 'I' => Some(1), 'V' => Some(5), 'X' => Some(10), 'L' => Some(50),
                              'C' => Some(100), 'D' => Some(500), 'M' => Some(1000), _ => None };
    let mut total = 0u32;
    let chars: Vec<char> = s.chars().collect();
    for i in 0..chars.len() {
        let v = value(chars[i])?;
        let next = if i + 1 < chars.len() { value(chars[i + 1])? } else { 0 };
        if v <= next { total -= v; } else { total += v; }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    macro_rules! roundtrip { ($($name:ident: $n:expr,)*) => { $(
        #[test] fn $name() { assert_eq!(from_roman(&to_roman($n)), Some($n), "roundtrip of {}", $n); }
    )* } }
    roundtrip! { r1: 1, r2: 2, r3: 3, r4: 4, r5: 5, r9: 9, r10: 10, r14: 14, r19: 19, r40: 40, r44: 44,
                 r90: 90, r99: 99, r400: 400, r444: 444, r900: 900, r1994: 1994, r2024: 2024, r3999: 3999, }
    #[test] fn rejects_garbage() { assert_eq!(from_roman("ABC"), None); }
    #[test] fn formats_mcmxciv() { assert_eq!(to_roman(1994), "MCMXCIV"); }
}
