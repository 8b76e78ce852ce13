//! Logs as hclog JSON lines on stderr. go-plugin parses these lines and
//! hands them to Terraform's logger at their level, so `TF_LOG=INFO` shows
//! INFO and above, and `TF_LOG_PROVIDER` can tune the provider alone.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber. The level comes from `TF_LOG_PROVIDER`,
/// then `TF_LOG`; without either, only warnings and errors are written.
pub fn init(module: &'static str) {
    let level = ["TF_LOG_PROVIDER", "TF_LOG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().and_then(|s| parse_level(&s)))
        .unwrap_or(Level::WARN);
    let layer = HclogLayer { module }
        .with_filter(tracing_subscriber::filter::LevelFilter::from_level(level));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

fn parse_level(s: &str) -> Option<Level> {
    match s.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" => Some(Level::ERROR),
        _ => None,
    }
}

struct HclogLayer {
    module: &'static str,
}

#[derive(Default)]
struct Fields {
    message: String,
    extra: Map<String, Json>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.extra
                .insert(field.name().to_string(), Json::String(value.to_string()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.extra.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.extra.insert(field.name().to_string(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.extra.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.extra.insert(field.name().to_string(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.extra
                .insert(field.name().to_string(), Json::String(format!("{value:?}")));
        }
    }
}

/// The HTTP/2 and gRPC machinery logs every frame at debug level; only its
/// warnings are worth a provider user's attention.
fn is_transport_chatter(event: &Event<'_>) -> bool {
    let target = event.metadata().target();
    *event.metadata().level() > Level::WARN
        && ["h2", "hyper", "tonic", "tower", "rustls", "mio"]
            .iter()
            .any(|t| target == *t || target.starts_with(&format!("{t}::")))
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if is_transport_chatter(event) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "@level".into(),
            hclog_level(event.metadata().level()).into(),
        );
        line.insert("@message".into(), Json::String(fields.message));
        line.insert("@module".into(), Json::String(self.module.to_string()));
        line.insert(
            "@timestamp".into(),
            Json::String(
                humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            ),
        );
        for (k, v) in fields.extra {
            line.insert(k, v);
        }
        let mut text = Json::Object(line).to_string();
        text.push('\n');
        // One write per line, so concurrent tasks never interleave a line.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

fn hclog_level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}
