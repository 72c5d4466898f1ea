//! Costs: what a study's work cost, as exact amounts in ISO 4217 currencies (never a float), and
//! their totals per currency.

use std::{cmp::Ordering, collections::BTreeMap, fmt, str::FromStr};

use chrono::{DateTime, Utc};

use crate::{CostRecordId, DomainError, JobId, StudyId, TenantId, error::invalid, text};

/// The longest category, provider or unit, in characters.
const MAX_NAME_CHARS: usize = 64;

/// The longest quantity, in characters.
const MAX_QUANTITY_CHARS: usize = 32;

/// An ISO 4217 currency, named by its upper-case three-letter code (`EUR`, `USD`, `JPY`).
///
/// Currencies order by code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Reads an ISO 4217 code; case matters (`eur` is refused). Errors name `currency`.
    pub fn parse(code: &str) -> Result<Currency, DomainError> {
        iso_currency::Currency::from_code(code)
            .map(Currency)
            .ok_or_else(|| invalid("currency", format!("{code:?} is not an ISO 4217 code")))
    }

    /// The three-letter code.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// How many digits the minor unit has (2 for EUR, 0 for JPY, 3 for KWD); 0 for a currency
    /// ISO 4217 gives no minor unit (gold, `XXX`).
    pub fn exponent(self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }
}

impl PartialOrd for Currency {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Currency {
    fn cmp(&self, other: &Self) -> Ordering {
        self.code().cmp(other.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

/// A non-negative sum of money: a whole number of the currency's minor units (cents for EUR,
/// yen for JPY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    minor_units: i64,
    currency: Currency,
}

impl Amount {
    /// An amount of `minor_units` (at least 0); errors name `amount`.
    pub fn from_minor_units(minor_units: i64, currency: Currency) -> Result<Amount, DomainError> {
        if minor_units < 0 {
            return Err(invalid(
                "amount",
                format!("{minor_units} minor units is negative"),
            ));
        }
        Ok(Amount {
            minor_units,
            currency,
        })
    }

    /// Reads a decimal exactly: digits, then optionally `.` and at most the currency's
    /// [`Currency::exponent`] digits; no sign, no exponent, no spaces. Errors name `amount`.
    ///
    /// ```
    /// use jobstore_domain::{Amount, Currency};
    ///
    /// let eur = Currency::parse("EUR")?;
    /// let amount = Amount::parse_decimal("12.3", eur)?;
    /// assert_eq!(amount.minor_units(), 1230);
    /// assert_eq!(amount.to_string(), "12.30 EUR");
    /// assert!(Amount::parse_decimal("12.345", eur).is_err()); // a tenth of a cent
    /// assert!(Amount::parse_decimal("-1", eur).is_err());
    /// assert_eq!(Amount::parse_decimal("500", Currency::parse("JPY")?)?.minor_units(), 500);
    /// # Ok::<(), jobstore_domain::DomainError>(())
    /// ```
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Amount, DomainError> {
        let (whole, fraction) = split_decimal("amount", text)?;
        let places = currency.exponent();
        let digits = u32::try_from(fraction.len()).unwrap_or(u32::MAX);
        if digits > places {
            return Err(invalid(
                "amount",
                format!("{text:?} has {digits} decimal places, {currency} has {places}"),
            ));
        }
        let overflow = || invalid("amount", format!("{text:?} is too large"));
        let scale = 10_i64.checked_pow(places).ok_or_else(overflow)?;
        let fraction_scale = 10_i64.checked_pow(places - digits).ok_or_else(overflow)?;
        let minor_units = digits_value(whole)
            .and_then(|w| w.checked_mul(scale))
            .and_then(|w| {
                digits_value(fraction)
                    .and_then(|f| f.checked_mul(fraction_scale))
                    .and_then(|f| w.checked_add(f))
            })
            .ok_or_else(overflow)?;
        Amount::from_minor_units(minor_units, currency)
    }

    /// The amount in minor units.
    pub fn minor_units(self) -> i64 {
        self.minor_units
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// The amount as a decimal with the currency's places, without the code (`12.30`, `500`).
    pub fn decimal(self) -> String {
        let places = usize::try_from(self.currency.exponent()).unwrap_or(0);
        let digits = format!("{:0>width$}", self.minor_units, width = places + 1);
        if places == 0 {
            return digits;
        }
        let (whole, fraction) = digits.split_at(digits.len() - places);
        format!("{whole}.{fraction}")
    }

    /// The sum of two amounts of one currency; errors name `amount` (other currencies, or
    /// beyond `i64`).
    pub fn checked_add(self, other: Amount) -> Result<Amount, DomainError> {
        if self.currency != other.currency {
            return Err(invalid(
                "amount",
                format!("cannot add {} to {}", other.currency, self.currency),
            ));
        }
        let minor_units = self
            .minor_units
            .checked_add(other.minor_units)
            .ok_or_else(|| {
                invalid(
                    "amount",
                    format!("the sum in {} is too large", self.currency),
                )
            })?;
        Amount::from_minor_units(minor_units, self.currency)
    }
}

impl fmt::Display for Amount {
    /// `12.30 EUR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

/// One cost: what was spent, with whom, on what, for which study and job when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRecord {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The record's id, unique within its tenant.
    pub id: CostRecordId,
    /// The study the cost belongs to, when known.
    pub study_id: Option<StudyId>,
    /// The job that incurred it, when known.
    pub job_id: Option<JobId>,
    /// What kind of cost (`compute`, `llm`, `proxy`, ...; 1 to 64 characters).
    pub category: String,
    /// Who charged it (`openai`, `gcp`, ...; 1 to 64 characters).
    pub provider: String,
    /// How much was used: an exact non-negative decimal (`1500`, `0.25`; at most 32 characters).
    pub quantity: String,
    /// The unit of the quantity (`tokens`, `seconds`, ...; 1 to 64 characters).
    pub unit: String,
    /// What it cost.
    pub amount: Amount,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// A cost to record: [`CostRecord`] without its time, with an optional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCostRecord {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// A caller-chosen id; a UUID when `None`.
    pub id: Option<CostRecordId>,
    /// See [`CostRecord::study_id`].
    pub study_id: Option<StudyId>,
    /// See [`CostRecord::job_id`].
    pub job_id: Option<JobId>,
    /// See [`CostRecord::category`].
    pub category: String,
    /// See [`CostRecord::provider`].
    pub provider: String,
    /// See [`CostRecord::quantity`].
    pub quantity: String,
    /// See [`CostRecord::unit`].
    pub unit: String,
    /// See [`CostRecord::amount`].
    pub amount: Amount,
}

impl NewCostRecord {
    /// The record this makes, recorded at `now`, after [`CostRecord::validate`].
    pub fn into_record(self, now: DateTime<Utc>) -> Result<CostRecord, DomainError> {
        let record = CostRecord {
            tenant_id: self.tenant_id,
            id: self.id.unwrap_or_else(CostRecordId::generate),
            study_id: self.study_id,
            job_id: self.job_id,
            category: self.category,
            provider: self.provider,
            quantity: self.quantity,
            unit: self.unit,
            amount: self.amount,
            recorded_at: now,
        };
        record.validate()?;
        Ok(record)
    }
}

impl CostRecord {
    /// Checks the names (1 to 64 characters, no surrounding whitespace, since sums group by
    /// them), the quantity and the time.
    pub fn validate(&self) -> Result<(), DomainError> {
        text::key("category", Some(&self.category), MAX_NAME_CHARS)?;
        text::key("provider", Some(&self.provider), MAX_NAME_CHARS)?;
        text::key("unit", Some(&self.unit), MAX_NAME_CHARS)?;
        validate_quantity(&self.quantity)?;
        crate::check_time("recorded_at", self.recorded_at)
    }
}

/// Checks a quantity: an exact non-negative decimal (`1500`, `0.25`), at most 32 characters.
pub fn validate_quantity(quantity: &str) -> Result<(), DomainError> {
    if quantity.len() > MAX_QUANTITY_CHARS {
        return Err(invalid(
            "quantity",
            format!(
                "is {} characters, at most {MAX_QUANTITY_CHARS} allowed",
                quantity.len()
            ),
        ));
    }
    split_decimal("quantity", quantity).map(|_| ())
}

/// Totals per currency, never mixing currencies; iterates in currency-code order.
///
/// ```
/// use jobstore_domain::{Amount, CostTotals, Currency};
///
/// let (eur, usd) = (Currency::parse("EUR")?, Currency::parse("USD")?);
/// let mut totals = CostTotals::default();
/// totals.add(&Amount::parse_decimal("0.10", eur)?)?;
/// totals.add(&Amount::parse_decimal("0.20", eur)?)?;
/// totals.add(&Amount::parse_decimal("5", usd)?)?;
/// assert_eq!(totals.get(eur).to_string(), "0.30 EUR");
/// assert_eq!(totals.iter().map(|a| a.to_string()).collect::<Vec<_>>(), ["0.30 EUR", "5.00 USD"]);
/// # Ok::<(), jobstore_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostTotals(BTreeMap<Currency, i64>);

impl CostTotals {
    /// Adds an amount to its currency's total; a total beyond `i64` minor units is refused
    /// (field `amount`) and leaves the totals as they were.
    pub fn add(&mut self, amount: &Amount) -> Result<(), DomainError> {
        let total = self.0.entry(amount.currency).or_insert(0);
        *total = total.checked_add(amount.minor_units).ok_or_else(|| {
            invalid(
                "amount",
                format!("the total in {} is too large", amount.currency),
            )
        })?;
        Ok(())
    }

    /// The total in `currency`; zero when nothing was added in it.
    pub fn get(&self, currency: Currency) -> Amount {
        Amount {
            minor_units: self.0.get(&currency).copied().unwrap_or(0),
            currency,
        }
    }

    /// Each currency's total, in currency-code order.
    pub fn iter(&self) -> impl Iterator<Item = Amount> + '_ {
        self.0.iter().map(|(currency, minor_units)| Amount {
            minor_units: *minor_units,
            currency: *currency,
        })
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many currencies have a total.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Splits an unsigned decimal into its whole and fraction digits (`"12.30"` → `("12", "30")`);
/// refuses anything else, naming `field`.
fn split_decimal<'a>(
    field: &'static str,
    text: &'a str,
) -> Result<(&'a str, &'a str), DomainError> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(invalid(
            field,
            format!("{text:?} is not a decimal such as 12 or 12.34 (digits, no sign, no exponent)"),
        ));
    }
    Ok((whole, fraction.unwrap_or("")))
}

/// The value of a string of ASCII digits; `None` past `i64`.
fn digits_value(digits: &str) -> Option<i64> {
    digits.chars().try_fold(0_i64, |acc, c| {
        acc.checked_mul(10)?.checked_add(i64::from(c.to_digit(10)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    fn field_of(err: DomainError) -> &'static str {
        match err {
            DomainError::Validation { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    fn new_record() -> NewCostRecord {
        NewCostRecord {
            tenant_id: TenantId::new("t1").unwrap(),
            id: None,
            study_id: Some(StudyId::new("s1").unwrap()),
            job_id: None,
            category: "llm".into(),
            provider: "openai".into(),
            quantity: "1500".into(),
            unit: "tokens".into(),
            amount: Amount::parse_decimal("0.03", eur()).unwrap(),
        }
    }

    #[test]
    fn currencies_parse_from_upper_case_iso_codes() {
        assert_eq!(eur().code(), "EUR");
        assert_eq!(eur().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("XXX").unwrap().exponent(), 0);
        assert_eq!("USD".parse::<Currency>().unwrap().to_string(), "USD");
    }

    #[test]
    fn an_unknown_or_lower_case_currency_is_refused() {
        for code in ["XYZ", "eur", "Eur", "EURO", "", " EUR"] {
            assert_eq!(
                field_of(Currency::parse(code).unwrap_err()),
                "currency",
                "{code:?}"
            );
        }
    }

    #[test]
    fn currencies_order_by_code() {
        let mut codes: Vec<Currency> = ["USD", "CHF", "EUR", "AUD"]
            .iter()
            .map(|c| Currency::parse(c).unwrap())
            .collect();
        codes.sort();
        let codes: Vec<&str> = codes.iter().map(|c| c.code()).collect();
        assert_eq!(codes, ["AUD", "CHF", "EUR", "USD"]);
    }

    #[test]
    fn a_negative_minor_unit_amount_is_refused() {
        assert_eq!(
            field_of(Amount::from_minor_units(-1, eur()).unwrap_err()),
            "amount"
        );
        assert_eq!(Amount::from_minor_units(0, eur()).unwrap().minor_units(), 0);
    }

    #[test]
    fn decimals_parse_exactly_to_minor_units() {
        let minor = |text: &str, code: &str| {
            Amount::parse_decimal(text, Currency::parse(code).unwrap())
                .unwrap()
                .minor_units()
        };
        assert_eq!(minor("12.34", "EUR"), 1234);
        assert_eq!(minor("12.3", "EUR"), 1230);
        assert_eq!(minor("12", "EUR"), 1200);
        assert_eq!(minor("0.01", "EUR"), 1);
        assert_eq!(minor("007.5", "EUR"), 750);
        assert_eq!(minor("1.234", "KWD"), 1234);
        assert_eq!(minor("500", "JPY"), 500);
        assert_eq!(minor("92233720368547758.07", "EUR"), i64::MAX);
    }

    #[test]
    fn a_fraction_of_a_minor_unit_is_refused() {
        assert_eq!(
            field_of(Amount::parse_decimal("12.345", eur()).unwrap_err()),
            "amount"
        );
        assert_eq!(
            field_of(Amount::parse_decimal("12.340", eur()).unwrap_err()),
            "amount"
        );
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(
            field_of(Amount::parse_decimal("1.5", jpy).unwrap_err()),
            "amount"
        );
    }

    #[test]
    fn anything_but_plain_digits_is_refused() {
        for text in [
            "", "-1", "+1", "1e3", "1E3", " 1", "1 ", "1.", ".5", "1.2.3", "1,50", "１", "NaN",
            "0x10", "1_000",
        ] {
            assert_eq!(
                field_of(Amount::parse_decimal(text, eur()).unwrap_err()),
                "amount",
                "{text:?}"
            );
        }
    }

    #[test]
    fn an_amount_beyond_i64_is_refused() {
        assert!(Amount::parse_decimal("92233720368547758.08", eur()).is_err());
        assert!(Amount::parse_decimal("99999999999999999999999", eur()).is_err());
        assert!(Amount::parse_decimal(&"9".repeat(1000), eur()).is_err());
    }

    #[test]
    fn amounts_display_with_the_currency_places() {
        let show = |minor: i64, code: &str| {
            Amount::from_minor_units(minor, Currency::parse(code).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(show(1230, "EUR"), "12.30 EUR");
        assert_eq!(show(5, "EUR"), "0.05 EUR");
        assert_eq!(show(0, "EUR"), "0.00 EUR");
        assert_eq!(show(500, "JPY"), "500 JPY");
        assert_eq!(show(1, "KWD"), "0.001 KWD");
        assert_eq!(show(i64::MAX, "EUR"), "92233720368547758.07 EUR");
    }

    #[test]
    fn decimal_round_trips_through_parse_decimal() {
        for (minor, code) in [(0, "EUR"), (7, "EUR"), (123_456, "KWD"), (42, "JPY")] {
            let amount = Amount::from_minor_units(minor, Currency::parse(code).unwrap()).unwrap();
            assert_eq!(
                Amount::parse_decimal(&amount.decimal(), amount.currency()).unwrap(),
                amount
            );
        }
    }

    #[test]
    fn amounts_add_only_within_a_currency() {
        let a = Amount::from_minor_units(10, eur()).unwrap();
        assert_eq!(a.checked_add(a).unwrap().minor_units(), 20);
        let usd = Amount::from_minor_units(10, Currency::parse("USD").unwrap()).unwrap();
        assert!(a.checked_add(usd).is_err());
        let max = Amount::from_minor_units(i64::MAX, eur()).unwrap();
        assert!(max.checked_add(a).is_err());
    }

    #[test]
    fn a_new_cost_record_gets_an_id_and_its_time() {
        let record = new_record().into_record(now()).unwrap();
        assert_eq!(record.id.as_str().len(), 36);
        assert_eq!(record.recorded_at, now());
        assert_eq!(record.amount.to_string(), "0.03 EUR");
    }

    #[test]
    fn bad_record_fields_name_their_field() {
        let bad = |f: fn(&mut NewCostRecord)| {
            let mut r = new_record();
            f(&mut r);
            field_of(r.into_record(now()).unwrap_err())
        };
        assert_eq!(bad(|r| r.category = String::new()), "category");
        assert_eq!(bad(|r| r.category = "x".repeat(65)), "category");
        assert_eq!(bad(|r| r.provider = " openai".into()), "provider");
        assert_eq!(bad(|r| r.unit = "tokens ".into()), "unit");
        assert_eq!(bad(|r| r.quantity = "-1".into()), "quantity");
        assert_eq!(bad(|r| r.quantity = "1.5e3".into()), "quantity");
        assert_eq!(bad(|r| r.quantity = "1".repeat(33)), "quantity");
        assert_eq!(bad(|r| r.quantity = String::new()), "quantity");
        let mut ok = new_record();
        ok.quantity = "0.000125".into();
        assert!(ok.into_record(now()).is_ok());
        let far = DateTime::from_timestamp(300_000_000_000, 0).unwrap();
        assert_eq!(
            field_of(new_record().into_record(far).unwrap_err()),
            "recorded_at"
        );
    }

    #[test]
    fn totals_keep_currencies_apart_and_sum_exactly() {
        let usd = Currency::parse("USD").unwrap();
        let mut totals = CostTotals::default();
        assert!(totals.is_empty());
        for _ in 0..10 {
            totals
                .add(&Amount::parse_decimal("0.10", eur()).unwrap())
                .unwrap();
        }
        totals
            .add(&Amount::parse_decimal("1", usd).unwrap())
            .unwrap();
        assert_eq!(totals.get(eur()).minor_units(), 100);
        assert_eq!(totals.get(usd).minor_units(), 100);
        assert_eq!(totals.get(Currency::parse("JPY").unwrap()).minor_units(), 0);
        assert_eq!(totals.len(), 2);
        let listed: Vec<String> = totals.iter().map(|a| a.to_string()).collect();
        assert_eq!(listed, ["1.00 EUR", "1.00 USD"]);
    }

    #[test]
    fn a_total_beyond_i64_is_refused_and_left_unchanged() {
        let mut totals = CostTotals::default();
        totals
            .add(&Amount::from_minor_units(i64::MAX, eur()).unwrap())
            .unwrap();
        let one = Amount::from_minor_units(1, eur()).unwrap();
        assert_eq!(field_of(totals.add(&one).unwrap_err()), "amount");
        assert_eq!(totals.get(eur()).minor_units(), i64::MAX);
    }
}
