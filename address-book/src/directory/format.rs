//! The two files an operator imports with `sdkgw addressbook import FILE`, exported from
//! DIGG's SDK address book (or written by hand). Both hold organisations and their function
//! addresses; an import replaces the whole imported directory (it is a snapshot).
//!
//! **JSON** (`.json`):
//!
//! ```json
//! {
//!   "format": "sdkgw-address-book",
//!   "version": 1,
//!   "organisations": [
//!     {
//!       "id": "0203:sundbyberg.se",
//!       "name": "Sundbybergs stad",
//!       "description": "Kommun",
//!       "identifiers": ["0007:2120000258"],
//!       "functions": [
//!         {
//!           "id": "SE2120000258-registrator",
//!           "name": "Registrator",
//!           "description": "Kommunens registratur",
//!           "categories": ["registratur"],
//!           "keywords": ["diarium", "post"]
//!         }
//!       ]
//!     }
//!   ]
//! }
//! ```
//!
//! `id` and `name` are required for organisations and functions; the other fields are
//! optional. Unknown fields are errors (so a misspelt key is noticed).
//!
//! **CSV** (`.csv`, UTF-8, RFC 4180 quoting, comma separated, header line required): one row
//! per function address; the organisation columns repeat on each of its rows (they must
//! agree); a row with an empty `function_id` lists an organisation without functions. Lists
//! (`identifiers`, `categories`, `keywords`) are separated by `;`. Columns are found by their
//! header names, in any order; `organisation_id` and `organisation_name` are required.
//!
//! ```text
//! organisation_id,organisation_name,organisation_description,identifiers,function_id,function_name,function_description,categories,keywords
//! 0203:sundbyberg.se,Sundbybergs stad,Kommun,0007:2120000258,SE2120000258-registrator,Registrator,Kommunens registratur,registratur,diarium;post
//! ```

use std::collections::BTreeMap;

use sdkgw_schemas::{FunctionAddress, ParticipantId};
use serde::{Deserialize, Serialize};

/// Largest import file read.
pub const MAX_IMPORT_BYTES: usize = 64 << 20;
/// Most organisations in one import.
pub const MAX_ORGANISATIONS: usize = 100_000;
/// Longest text field.
const MAX_FIELD: usize = 4096;

/// The `format` value of JSON exports.
pub const FORMAT_NAME: &str = "sdkgw-address-book";

/// One organisation of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// The participant id (`0203:<domain>`), the key shared with SMP.
    pub id: ParticipantId,
    /// Short name.
    pub name: String,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Other identifiers (e.g. `0007:<org number>`), as text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<String>,
    /// Its function addresses.
    #[serde(default)]
    pub functions: Vec<Function>,
}

/// One function address (funktionsadress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// The function id (`subOrganization/organizationId` extension, XHE `HandlingServiceID`).
    pub id: FunctionAddress,
    /// Short name.
    pub name: String,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Search keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

/// The JSON export document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// [`FORMAT_NAME`].
    #[serde(default = "format_name")]
    pub format: String,
    /// 1.
    #[serde(default = "one")]
    pub version: u32,
    /// The organisations.
    pub organisations: Vec<Organisation>,
}

fn format_name() -> String {
    FORMAT_NAME.to_owned()
}

fn one() -> u32 {
    1
}

/// Which file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// The JSON export.
    Json,
    /// The CSV export.
    Csv,
}

impl ImportFormat {
    /// By file extension (`.json`, `.csv`), else by the first non-space byte (`{` = JSON).
    pub fn detect(file_name: &str, bytes: &[u8]) -> Self {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".json") {
            return Self::Json;
        }
        if lower.ends_with(".csv") {
            return Self::Csv;
        }
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Self::Json,
            _ => Self::Csv,
        }
    }
}

/// Why an import file is refused. Nothing is imported when any of it is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Larger than [`MAX_IMPORT_BYTES`] or more than [`MAX_ORGANISATIONS`].
    #[error("import is too large: {0}")]
    TooLarge(String),
    /// Not UTF-8.
    #[error("import is not UTF-8 text")]
    NotUtf8,
    /// JSON syntax or shape.
    #[error("JSON import: {0}")]
    Json(String),
    /// CSV syntax or shape, with the line number.
    #[error("CSV import, line {line}: {message}")]
    Csv {
        /// 1-based line of the record.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value that is not valid, with where it is.
    #[error("{location}: {message}")]
    Invalid {
        /// `organisations[3].functions[1].id` or `line 7, function_id`.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The same organisation or function twice (ids compare as the identifier types do).
    #[error("{0} is listed twice")]
    Duplicate(String),
    /// An import that would remove too much, or is empty (see `ImportOptions::force`).
    #[error("{0}")]
    Refused(String),
}

/// Parses an import file in `format`.
pub fn parse(bytes: &[u8], format: ImportFormat) -> Result<Vec<Organisation>, ImportError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge(format!(
            "{} bytes (at most {MAX_IMPORT_BYTES})",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ImportError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let organisations = match format {
        ImportFormat::Json => parse_json(text)?,
        ImportFormat::Csv => parse_csv(text)?,
    };
    check(&organisations)?;
    Ok(organisations)
}

fn parse_json(text: &str) -> Result<Vec<Organisation>, ImportError> {
    let export: Export =
        serde_json::from_str(text).map_err(|e| ImportError::Json(e.to_string()))?;
    if export.format != FORMAT_NAME || export.version != 1 {
        return Err(ImportError::Json(format!(
            "format {:?} version {} is not {FORMAT_NAME:?} version 1",
            export.format, export.version
        )));
    }
    Ok(export.organisations)
}

/// Limits, text hygiene and uniqueness of what was parsed.
fn check(organisations: &[Organisation]) -> Result<(), ImportError> {
    if organisations.len() > MAX_ORGANISATIONS {
        return Err(ImportError::TooLarge(format!(
            "{} organisations (at most {MAX_ORGANISATIONS})",
            organisations.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, org) in organisations.iter().enumerate() {
        let at = |field: &str| format!("organisations[{i}] ({}).{field}", org.id);
        if !seen.insert(&org.id) {
            return Err(ImportError::Duplicate(format!("organisation {}", org.id)));
        }
        text_field(&at("name"), &org.name, true)?;
        opt_field(&at("description"), org.description.as_deref())?;
        for v in &org.identifiers {
            text_field(&at("identifiers"), v, true)?;
        }
        let mut functions = std::collections::HashSet::new();
        for (j, f) in org.functions.iter().enumerate() {
            let at = |field: &str| format!("organisations[{i}].functions[{j}] ({}).{field}", f.id);
            if !functions.insert(&f.id) {
                return Err(ImportError::Duplicate(format!(
                    "function {} of {}",
                    f.id, org.id
                )));
            }
            text_field(&at("name"), &f.name, true)?;
            opt_field(&at("description"), f.description.as_deref())?;
            for v in f.categories.iter().chain(&f.keywords) {
                text_field(&at("categories/keywords"), v, true)?;
            }
        }
    }
    Ok(())
}

fn opt_field(location: &str, value: Option<&str>) -> Result<(), ImportError> {
    value.map_or(Ok(()), |v| text_field(location, v, false))
}

fn text_field(location: &str, value: &str, required: bool) -> Result<(), ImportError> {
    let invalid = |message: &str| ImportError::Invalid {
        location: location.to_owned(),
        message: message.to_owned(),
    };
    if required && value.trim().is_empty() {
        return Err(invalid("is empty"));
    }
    if value.chars().count() > MAX_FIELD {
        return Err(invalid("is longer than 4096 characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid("contains control characters"));
    }
    Ok(())
}

/// RFC 4180 records: fields separated by `,`, quoted fields may hold `,`, `"` (doubled) and
/// line breaks. Returns each record with the line it starts on.
fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, ImportError> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut at_field_start = true;
    let (mut line, mut record_line) = (1, 1);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            '"' => {
                return Err(ImportError::Csv {
                    line,
                    message: "quote inside an unquoted field".into(),
                });
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                if !(record.len() == 1 && record[0].is_empty()) {
                    records.push((record_line, std::mem::take(&mut record)));
                } else {
                    record.clear();
                }
                line += 1;
                record_line = line;
                at_field_start = true;
            }
            c => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(ImportError::Csv {
            line: record_line,
            message: "unterminated quoted field".into(),
        });
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push((record_line, record));
    }
    Ok(records)
}

const CSV_COLUMNS: [&str; 9] = [
    "organisation_id",
    "organisation_name",
    "organisation_description",
    "identifiers",
    "function_id",
    "function_name",
    "function_description",
    "categories",
    "keywords",
];

fn parse_csv(text: &str) -> Result<Vec<Organisation>, ImportError> {
    let mut records = csv_records(text)?.into_iter();
    let (_, header) = records.next().ok_or(ImportError::Csv {
        line: 1,
        message: "no header line".into(),
    })?;
    let mut index = BTreeMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        if !CSV_COLUMNS.contains(&name.as_str()) {
            return Err(ImportError::Csv {
                line: 1,
                message: format!(
                    "unknown column {name:?}; columns are {}",
                    CSV_COLUMNS.join(", ")
                ),
            });
        }
        if index.insert(name.clone(), i).is_some() {
            return Err(ImportError::Csv {
                line: 1,
                message: format!("column {name:?} appears twice"),
            });
        }
    }
    for required in ["organisation_id", "organisation_name"] {
        if !index.contains_key(required) {
            return Err(ImportError::Csv {
                line: 1,
                message: format!("required column {required:?} is missing"),
            });
        }
    }
    let mut order: Vec<ParticipantId> = Vec::new();
    let mut orgs: BTreeMap<ParticipantId, Organisation> = BTreeMap::new();
    for (line, fields) in records {
        if fields.len() != header.len() {
            return Err(ImportError::Csv {
                line,
                message: format!("{} fields, the header has {}", fields.len(), header.len()),
            });
        }
        let get = |name: &str| {
            index
                .get(name)
                .map(|&i| fields[i].trim())
                .unwrap_or_default()
        };
        let opt = |name: &str| Some(get(name).to_owned()).filter(|s| !s.is_empty());
        let list = |name: &str| -> Vec<String> {
            get(name)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let invalid = |column: &str, message: String| ImportError::Invalid {
            location: format!("line {line}, {column}"),
            message,
        };
        let id: ParticipantId =
            get("organisation_id")
                .parse()
                .map_err(|e: sdkgw_schemas::ParticipantIdError| {
                    invalid("organisation_id", e.to_string())
                })?;
        let org = Organisation {
            id: id.clone(),
            name: get("organisation_name").to_owned(),
            description: opt("organisation_description"),
            identifiers: list("identifiers"),
            functions: Vec::new(),
        };
        let existing = orgs.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            org.clone()
        });
        if existing.name != org.name
            || existing.description != org.description
            || existing.identifiers != org.identifiers
        {
            return Err(invalid(
                "organisation_*",
                format!("organisation {id} is described differently on an earlier line"),
            ));
        }
        if get("function_id").is_empty() {
            continue;
        }
        let function = Function {
            id: FunctionAddress::parse(get("function_id"))
                .map_err(|e| invalid("function_id", e.to_string()))?,
            name: get("function_name").to_owned(),
            description: opt("function_description"),
            categories: list("categories"),
            keywords: list("keywords"),
        };
        existing.functions.push(function);
    }
    Ok(order
        .into_iter()
        .filter_map(|id| orgs.remove(&id))
        .collect())
}

/// Writes organisations as the JSON export (what `parse` reads back).
pub fn to_json(organisations: &[Organisation]) -> String {
    let export = Export {
        format: FORMAT_NAME.to_owned(),
        version: 1,
        organisations: organisations.to_vec(),
    };
    serde_json::to_string_pretty(&export).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "organisation_id,organisation_name,organisation_description,identifiers,function_id,function_name,function_description,categories,keywords\r\n\
        0203:sundbyberg.se,Sundbybergs stad,Kommun,0007:2120000258,SE2120000258-registrator,Registrator,\"Diarium, post\",registratur,diarium;post\r\n\
        0203:sundbyberg.se,Sundbybergs stad,Kommun,0007:2120000258,SE2120000258-soc,Socialtjänsten,\"Säger \"\"hej\"\"\nrad två\",,\r\n\
        0203:Tom.SE,Tom org,,,,,,,\n";

    #[test]
    fn csv_export_reads_rows_per_function_with_quoting_and_lists() {
        let orgs = parse(CSV.as_bytes(), ImportFormat::Csv).unwrap();
        assert_eq!(orgs.len(), 2);
        let s = &orgs[0];
        assert_eq!(s.id.value(), "0203:sundbyberg.se");
        assert_eq!(s.identifiers, ["0007:2120000258"]);
        assert_eq!(s.functions.len(), 2);
        assert_eq!(s.functions[0].description.as_deref(), Some("Diarium, post"));
        assert_eq!(s.functions[0].keywords, ["diarium", "post"]);
        assert_eq!(
            s.functions[1].description.as_deref(),
            Some("Säger \"hej\"\nrad två")
        );
        assert_eq!(orgs[1].id.value(), "0203:tom.se", "ids are canonical");
        assert!(orgs[1].functions.is_empty());
    }

    #[test]
    fn json_export_round_trips() {
        let orgs = parse(CSV.as_bytes(), ImportFormat::Csv).unwrap();
        let json = to_json(&orgs);
        assert_eq!(parse(json.as_bytes(), ImportFormat::Json).unwrap(), orgs);
    }

    #[test]
    fn bad_imports_are_refused_with_their_location() {
        let header = "organisation_id,organisation_name,function_id,function_name\n";
        let cases = [
            (
                format!("{header}0203:a.se,A,f 1,F\n"),
                "line 2, function_id",
            ),
            (format!("{header}9999:x,A,,\n"), "line 2, organisation_id"),
            (format!("{header}0203:a.se,A,f1\n"), "3 fields"),
            (format!("{header}0203:a.se,A,\"f1,F\n"), "unterminated"),
            (format!("{header}0203:a.se,A,f\"1,F\n"), "quote inside"),
            (
                format!("{header}0203:a.se,A,f1,F\n0203:a.se,B,f2,G\n"),
                "described differently",
            ),
            (
                format!("{header}0203:a.se,A,f1,F\n0203:a.se,A,f1,G\n"),
                "listed twice",
            ),
            (format!("{header}0203:a.se,,f1,F\n"), "name: is empty"),
            (
                "name,organisation_id\nx,0203:a.se\n".into(),
                "unknown column",
            ),
            ("organisation_id\n0203:a.se\n".into(), "organisation_name"),
        ];
        for (csv, expected) in cases {
            let err = parse(csv.as_bytes(), ImportFormat::Csv)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{csv:?}: {err}");
        }
        let json_cases = [
            (
                r#"{"organisations":[{"id":"0203:a.se","name":"A","nmae":"x"}]}"#,
                "unknown field",
            ),
            (r#"{"format":"other","organisations":[]}"#, "is not"),
            (
                r#"{"organisations":[{"id":"0203:a.se","name":"A"},{"id":"0203:A.se","name":"B"}]}"#,
                "twice",
            ),
            (
                r#"{"organisations":[{"id":"0203:a.se","name":"A\u0007"}]}"#,
                "control",
            ),
            ("[]", "JSON import"),
        ];
        for (json, expected) in json_cases {
            let err = parse(json.as_bytes(), ImportFormat::Json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
        assert_eq!(
            parse(b"\xff\xfe", ImportFormat::Csv),
            Err(ImportError::NotUtf8)
        );
    }

    #[test]
    fn format_is_detected_by_extension_then_content() {
        assert_eq!(ImportFormat::detect("x.JSON", b"a,b"), ImportFormat::Json);
        assert_eq!(ImportFormat::detect("x.csv", b"{"), ImportFormat::Csv);
        assert_eq!(
            ImportFormat::detect("export", b"  {\"organisations\":[]}"),
            ImportFormat::Json
        );
        assert_eq!(
            ImportFormat::detect("export", b"organisation_id"),
            ImportFormat::Csv
        );
    }
}
