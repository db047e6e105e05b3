//! The compiled-in catalogues and how a message is formatted.

use std::borrow::Cow;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

use crate::Lang;

/// One catalogue file: its name, and its text in English and in Japanese.
pub struct Resource {
    /// The file name under `locales/{en,ja}/`.
    pub name: &'static str,
    /// `locales/en/<name>`; empty for a Japanese-only file.
    pub en: &'static str,
    /// `locales/ja/<name>`.
    pub ja: &'static str,
    /// True for a file that exists only in Japanese, because its English is written
    /// elsewhere once (`ctl-help.ftl`: the English help is the doc comments of cardgatectl's
    /// clap definitions, and a test there proves that every command and option has its
    /// Japanese line).
    pub japanese_only: bool,
}

macro_rules! resource {
    ($name:literal) => {
        Resource {
            name: $name,
            en: include_str!(concat!("../locales/en/", $name)),
            ja: include_str!(concat!("../locales/ja/", $name)),
            japanese_only: false,
        }
    };
    ($name:literal, japanese_only) => {
        Resource {
            name: $name,
            en: "",
            ja: include_str!(concat!("../locales/ja/", $name)),
            japanese_only: true,
        }
    };
}

/// Every catalogue file, one per part of cardgate that speaks (message IDs carry the file's
/// prefix, so that two files never define one ID).
pub const RESOURCES: &[Resource] = &[
    resource!("common.ftl"),
    resource!("ctl.ftl"),
    resource!("ctl-card.ftl"),
    resource!("ctl-state.ftl"),
    resource!("ctl-audit.ftl"),
    resource!("ctl-office.ftl"),
    resource!("ctl-collected.ftl"),
    resource!("daemon.ftl"),
    resource!("pam.ftl"),
    resource!("review.ftl"),
    resource!("ctl-help.ftl", japanese_only),
];

/// Arguments of one message.
#[derive(Default)]
pub struct Args<'a>(FluentArgs<'a>);

impl<'a> Args<'a> {
    /// No arguments yet.
    pub fn new() -> Self {
        Args(FluentArgs::new())
    }

    /// Adds `name = value` (strings, numbers).
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl Into<FluentValue<'a>>) -> Self {
        self.0.set(name, value);
        self
    }
}

/// The messages of one language.
pub struct Catalogue {
    lang: Lang,
    bundle: FluentBundle<FluentResource>,
}

impl Catalogue {
    fn build(lang: Lang) -> Catalogue {
        let tag = match lang {
            Lang::Ja => unic_langid::langid!("ja"),
            Lang::En => unic_langid::langid!("en"),
        };
        let mut bundle = FluentBundle::new_concurrent(vec![tag]);
        // Unicode isolation marks (U+2068/U+2069) around arguments are for mixed-direction
        // scripts; on a console or in a PAM prompt they show as garbage.
        bundle.set_use_isolating(false);
        for resource in RESOURCES {
            let source = match lang {
                Lang::Ja => resource.ja,
                Lang::En => resource.en,
            };
            // A catalogue that does not parse, or redefines an ID, fails the test
            // `catalogues_parse`; at run time what did parse is kept.
            let parsed = match FluentResource::try_new(source.to_owned()) {
                Ok(r) => r,
                Err((r, _)) => r,
            };
            bundle.add_resource_overriding(parsed);
        }
        Catalogue { lang, bundle }
    }

    /// The language of this catalogue.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// True when the catalogue has the message `id`.
    pub fn has(&self, id: &str) -> bool {
        self.bundle.has_message(id)
    }

    /// The message `id`, without arguments.
    pub fn text(&self, id: &str) -> String {
        self.format_inner(id, None, None)
    }

    /// The message `id` with `args`.
    pub fn format(&self, id: &str, args: &Args<'_>) -> String {
        self.format_inner(id, None, Some(&args.0))
    }

    /// The attribute `attr` of the message `id` (`id.attr` in the catalogue).
    pub fn attribute(&self, id: &str, attr: &str, args: &Args<'_>) -> String {
        self.format_inner(id, Some(attr), Some(&args.0))
    }

    fn format_inner(&self, id: &str, attr: Option<&str>, args: Option<&FluentArgs<'_>>) -> String {
        let pattern = self.bundle.get_message(id).and_then(|m| match attr {
            Some(a) => m.get_attribute(a).map(|a| a.value()),
            None => m.value(),
        });
        match pattern {
            Some(pattern) => {
                let mut errors = Vec::new();
                let text: Cow<'_, str> = self.bundle.format_pattern(pattern, args, &mut errors);
                text.into_owned()
            }
            None => {
                // Every ID used in code is a literal; the test suites of the crates that speak
                // run their messages, so a missing one is a programming error caught there.
                debug_assert!(
                    false,
                    "message {id:?} (attribute {attr:?}) is in no catalogue"
                );
                match self.lang {
                    Lang::Ja => catalogue(Lang::En).format_inner(id, attr, args),
                    Lang::En => id.to_owned(),
                }
            }
        }
    }
}

/// The catalogue of `lang`, built once per process.
pub fn catalogue(lang: Lang) -> &'static Catalogue {
    static JA: OnceLock<Catalogue> = OnceLock::new();
    static EN: OnceLock<Catalogue> = OnceLock::new();
    match lang {
        Lang::Ja => JA.get_or_init(|| Catalogue::build(Lang::Ja)),
        Lang::En => EN.get_or_init(|| Catalogue::build(Lang::En)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tr;
    use fluent_syntax::ast;
    use std::collections::{BTreeMap, BTreeSet};

    /// Message and attribute IDs, each with the variables it uses.
    type Shape = BTreeMap<String, BTreeSet<String>>;

    fn variables(pattern: &ast::Pattern<&str>, into: &mut BTreeSet<String>) {
        for element in &pattern.elements {
            if let ast::PatternElement::Placeable { expression } = element {
                expression_variables(expression, into);
            }
        }
    }

    fn expression_variables(expression: &ast::Expression<&str>, into: &mut BTreeSet<String>) {
        match expression {
            ast::Expression::Inline(inline) => inline_variables(inline, into),
            ast::Expression::Select { selector, variants } => {
                inline_variables(selector, into);
                for v in variants {
                    variables(&v.value, into);
                }
            }
        }
    }

    fn inline_variables(inline: &ast::InlineExpression<&str>, into: &mut BTreeSet<String>) {
        match inline {
            ast::InlineExpression::VariableReference { id } => {
                into.insert(id.name.to_owned());
            }
            ast::InlineExpression::FunctionReference { arguments, .. } => {
                for p in &arguments.positional {
                    inline_variables(p, into);
                }
            }
            ast::InlineExpression::Placeable { expression } => {
                expression_variables(expression, into)
            }
            _ => {}
        }
    }

    fn shape(name: &str, source: &'static str) -> Shape {
        let resource = FluentResource::try_new(source.to_owned())
            .unwrap_or_else(|(_, e)| panic!("{name} does not parse: {e:?}"));
        let mut shape = Shape::new();
        for entry in resource.entries() {
            match entry {
                ast::Entry::Message(m) => {
                    let mut vars = BTreeSet::new();
                    if let Some(v) = &m.value {
                        variables(v, &mut vars);
                    }
                    let id = m.id.name.to_owned();
                    assert!(
                        shape.insert(id.clone(), vars).is_none(),
                        "{name}: {id} twice"
                    );
                    for a in &m.attributes {
                        let mut vars = BTreeSet::new();
                        variables(&a.value, &mut vars);
                        shape.insert(format!("{id}.{}", a.id.name), vars);
                    }
                }
                ast::Entry::Junk { content } => panic!("{name}: cannot parse {content:?}"),
                _ => {}
            }
        }
        shape
    }

    #[test]
    fn catalogues_parse_and_match() {
        let mut seen = BTreeSet::new();
        for r in RESOURCES {
            let (en, ja) = (shape(r.name, r.en), shape(r.name, r.ja));
            if r.japanese_only {
                for id in ja.keys().filter(|id| !id.contains('.')) {
                    assert!(seen.insert(id.clone()), "{id} is defined in two files");
                }
                continue;
            }
            assert_eq!(
                en.keys().collect::<Vec<_>>(),
                ja.keys().collect::<Vec<_>>(),
                "{}: the English and Japanese catalogues have different messages",
                r.name
            );
            for (id, vars) in &en {
                assert_eq!(
                    Some(vars),
                    ja.get(id),
                    "{}: {id} takes other arguments",
                    r.name
                );
                if !id.contains('.') {
                    assert!(seen.insert(id.clone()), "{id} is defined in two files");
                }
            }
        }
    }

    #[test]
    fn japanese_is_japanese() {
        // A Japanese message that is plain ASCII was not translated; a few are legitimately
        // the same in both (a unit, a code), and say so with the `-ascii` suffix.
        for r in RESOURCES {
            for (id, _) in shape(r.name, r.ja) {
                if id.contains(".") || id.ends_with("-ascii") {
                    continue;
                }
                let ja = catalogue(Lang::Ja).text_unchecked(&id);
                assert!(!ja.is_ascii(), "{}: {id} is not translated: {ja:?}", r.name);
            }
        }
    }

    #[test]
    fn arguments_are_filled_in_without_isolation_marks() {
        let en = catalogue(Lang::En).format("common-file", &Args::new().with("path", "/etc/x"));
        assert_eq!(en, "file /etc/x");
        let ja = catalogue(Lang::Ja).format("common-file", &Args::new().with("path", "/etc/x"));
        assert_eq!(ja, "ファイル /etc/x");
        assert_eq!(tr!(Lang::En, "common-yes-no-ascii"), "[y/N]");
    }

    impl Catalogue {
        fn text_unchecked(&self, id: &str) -> String {
            let Some(p) = self.bundle.get_message(id).and_then(|m| m.value()) else {
                return String::new();
            };
            let mut errors = Vec::new();
            self.bundle
                .format_pattern(p, None, &mut errors)
                .into_owned()
        }
    }
}
