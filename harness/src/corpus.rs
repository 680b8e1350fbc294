//! The soak corpus (DESIGN.md section 6, issue 4 item 2).
//!
//! * [`generate`] writes a seeded, realistic Python package tree plus Markdown documents under
//!   `docs/`. The same [`CorpusSpec`] always gives a byte-identical tree.
//! * [`copy_corpus`] copies the `.py` and `.md` files of a real tree (`--corpus DIR`) into the
//!   run's work directory, so the source tree is never written to.
//! * [`mutate_file`] makes one realistic edit to a Python file, atomically (the `mutate`
//!   operation of the soak).
//!
//! Both constructors return a [`Corpus`], which the coordinator writes to a manifest file
//! ([`Corpus::write_manifest`]) and the worker processes read back ([`Corpus::read_manifest`]).

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use fastrand::Rng;
use serde::{Deserialize, Serialize};

/// Fewest search queries a [`Corpus`] offers.
pub const MIN_QUERIES: usize = 50;
/// Largest file [`copy_corpus`] copies (larger ones are skipped).
pub const MAX_COPY_BYTES: u64 = 8 * 1024 * 1024;
/// The [`Corpus::source`] of a generated corpus.
pub const GENERATED_SOURCE: &str = "generated";

/// Number of queries aimed for when the corpus has enough material.
const QUERY_TARGET: usize = 120;
/// Files whose symbols and headings feed the queries of a copied corpus.
const QUERY_SAMPLE_FILES: usize = 300;
/// Deepest directory nesting [`copy_corpus`] follows.
const MAX_COPY_DEPTH: usize = 64;
/// Directories [`copy_corpus`] never enters (hidden directories are skipped too).
const SKIPPED_DIRS: &[&str] = &["__pycache__", "node_modules"];
/// Queries used when a copied tree offers no symbol and no heading.
const FALLBACK_QUERIES: &[&str] = &["def", "class", "import", "return", "self", "none"];
/// One level of Python indentation.
const INDENT: &str = "    ";

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// What [`generate`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusSpec {
    /// Number of `.py` files, `__init__.py` files included (at least 1).
    pub python_files: usize,
    /// Number of `.md` files, all under `docs/`.
    pub markdown_files: usize,
    /// Seed of every random choice: the same spec gives a byte-identical tree.
    pub seed: u64,
}

/// A corpus on disk: what the workers of a soak run operate on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Corpus {
    /// Canonical absolute path of the corpus (the segment root).
    pub root: PathBuf,
    /// Python files relative to `root`, `/`-separated, sorted.
    pub python: Vec<String>,
    /// Markdown files relative to `root`, `/`-separated, sorted.
    pub markdown: Vec<String>,
    /// At least [`MIN_QUERIES`] search queries (symbol names, heading words and body words),
    /// each at least 2 characters long.
    pub queries: Vec<String>,
    /// Total size of the Python and Markdown files.
    pub bytes: u64,
    /// [`GENERATED_SOURCE`] or the directory the files were copied from.
    pub source: String,
}

impl Corpus {
    /// Writes the corpus description as JSON to `path` (atomically).
    pub fn write_manifest(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).context("cannot serialize the corpus")?;
        write_atomically(path, &json)
            .with_context(|| format!("cannot write corpus manifest {}", path.display()))
    }

    /// Reads a corpus description written by [`Corpus::write_manifest`].
    pub fn read_manifest(path: &Path) -> Result<Corpus> {
        let bytes = fs::read(path)
            .with_context(|| format!("cannot read corpus manifest {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("corpus manifest {} is not valid", path.display()))
    }

    /// The absolute path of a file of the corpus, given its relative path.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// Generates a realistic Python package tree and Markdown documents under `dir`.
///
/// `dir` must be empty or not exist yet. The tree holds exactly `spec.python_files` Python
/// files (nested packages with `__init__.py`; about 5 % long modules of 1,000 to 3,000 lines,
/// the rest short or medium) and `spec.markdown_files` Markdown files under `docs/`.
pub fn generate(dir: &Path, spec: &CorpusSpec) -> Result<Corpus> {
    if spec.python_files == 0 {
        bail!("a generated corpus needs at least one Python file");
    }
    prepare_empty_dir(dir)?;
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve corpus directory {}", dir.display()))?;
    let tree = build_tree(spec);
    let bytes = write_files(&root, &tree.files)?;
    Ok(Corpus {
        root,
        python: tree.python,
        markdown: tree.markdown,
        queries: tree.queries,
        bytes,
        source: GENERATED_SOURCE.to_string(),
    })
}

/// Copies every `.py` and `.md` file of `src` into `dst`, keeping relative paths (for
/// `--corpus DIR`).
///
/// Hidden directories, `__pycache__`, `node_modules`, symlinks and files larger than
/// [`MAX_COPY_BYTES`] are skipped. `src` is only read; `dst` must be empty or not exist yet,
/// and must not lie inside `src`. The queries come from the symbols of the copied Python files
/// and the headings of the Markdown files, chosen with `seed`.
pub fn copy_corpus(src: &Path, dst: &Path, seed: u64) -> Result<Corpus> {
    let src = source_dir(src)?;
    let target = resolve_destination(dst)?;
    if target.starts_with(&src) {
        bail!(
            "corpus destination {} is inside the source tree {}: the source is never written to",
            dst.display(),
            src.display()
        );
    }
    let files = list_sources(&src)?;
    if !files.iter().any(|file| file.python) {
        bail!("no .py file found in corpus directory {}", src.display());
    }
    prepare_empty_dir(dst)?;
    let root = dst
        .canonicalize()
        .with_context(|| format!("cannot resolve corpus directory {}", dst.display()))?;
    let bytes = copy_files(&root, &files)?;
    let (python, markdown): (Vec<&SourceFile>, Vec<&SourceFile>) =
        files.iter().partition(|file| file.python);
    let python: Vec<String> = python.iter().map(|file| file.rel.clone()).collect();
    let markdown: Vec<String> = markdown.iter().map(|file| file.rel.clone()).collect();
    let mut rng = Rng::with_seed(seed);
    let pools = copied_query_pools(&root, &python, &markdown, &mut rng);
    Ok(Corpus {
        root,
        queries: choose_queries(pools, &mut rng),
        python,
        markdown,
        bytes,
        source: src.display().to_string(),
    })
}

/// Makes one realistic edit to the Python file `rel` under `root`: rename a function, add a
/// method to a class, append a new top-level function, or change a number in a body line.
///
/// A valid file stays valid (an edit that would add a parse error is replaced by appending a
/// function). The new content is written to a temporary file in the same directory, then
/// renamed over the original, so readers never see a partial file.
pub fn mutate_file(root: &Path, rel: &str, rng: &mut Rng) -> Result<()> {
    let path = file_in_corpus(root, rel)?;
    let original =
        fs::read(&path).with_context(|| format!("cannot read {} to mutate it", path.display()))?;
    let updated = mutated_source(&original, rng);
    write_atomically(&path, &updated)
        .with_context(|| format!("cannot write mutated {}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Vocabulary and naming
// ---------------------------------------------------------------------------------------------

/// Verbs of function names (`load_segment`). Disjoint from [`NOUNS`].
const VERBS: &[&str] = &[
    "load",
    "parse",
    "save",
    "build",
    "fetch",
    "resolve",
    "render",
    "compute",
    "validate",
    "register",
    "refresh",
    "merge",
    "split",
    "scan",
    "encode",
    "decode",
    "flush",
    "read",
    "write",
    "apply",
    "collect",
    "normalize",
    "compile",
    "dispatch",
    "schedule",
    "track",
    "emit",
    "sort",
    "group",
    "locate",
    "check",
    "evict",
    "prune",
    "rebuild",
    "sync",
    "export",
    "convert",
    "extract",
    "trim",
    "update",
    "reset",
    "prepare",
    "publish",
    "restore",
    "verify",
    "serialize",
    "index",
    "attach",
    "release",
    "inspect",
];

/// Nouns of identifiers, locals and prose. None is a Python keyword or a common builtin.
const NOUNS: &[&str] = &[
    "config",
    "segment",
    "cache",
    "symbol",
    "entry",
    "record",
    "token",
    "buffer",
    "request",
    "response",
    "session",
    "handler",
    "event",
    "payload",
    "metric",
    "report",
    "query",
    "result",
    "schema",
    "node",
    "tree",
    "module",
    "package",
    "path",
    "chunk",
    "block",
    "frame",
    "batch",
    "job",
    "task",
    "worker",
    "queue",
    "channel",
    "stream",
    "header",
    "message",
    "account",
    "profile",
    "policy",
    "rule",
    "route",
    "manifest",
    "snapshot",
    "checkpoint",
    "ledger",
    "digest",
    "lock",
    "table",
    "column",
    "row",
    "cursor",
    "document",
    "heading",
    "section",
    "template",
    "plugin",
    "registry",
    "store",
    "source",
    "target",
    "offset",
    "window",
    "budget",
    "quota",
    "signal",
    "shard",
    "replica",
    "bucket",
    "catalog",
    "context",
];

/// Qualifiers of names and prose (`load_cached_segment`).
const QUALIFIERS: &[&str] = &[
    "cached", "default", "pending", "active", "raw", "remote", "local", "shared", "stale", "dirty",
    "partial", "current", "last", "primary", "nested", "batched",
];

/// Last word of class names (`SegmentLoader`).
const CLASS_SUFFIXES: &[&str] = &[
    "Manager",
    "Loader",
    "Parser",
    "Builder",
    "Registry",
    "Store",
    "Client",
    "Service",
    "Handler",
    "Resolver",
    "Factory",
    "Adapter",
    "Index",
    "Reader",
    "Writer",
    "Cache",
    "Scheduler",
    "Validator",
    "Config",
    "Record",
    "Snapshot",
    "Pool",
    "Tracker",
    "Monitor",
    "Router",
    "Encoder",
    "Decoder",
    "Planner",
];

/// Optional first word of class names (`LazySegmentLoader`).
const CLASS_PREFIXES: &[&str] = &[
    "Base",
    "Default",
    "Lazy",
    "Remote",
    "Local",
    "Cached",
    "Shared",
    "Async",
    "Batch",
    "Composite",
];

/// Names of classes nested in classes.
const NESTED_CLASS_NAMES: &[&str] = &[
    "Config", "Meta", "Options", "State", "Entry", "Stats", "Settings", "Frame", "Slot", "Limits",
];

/// Second word of Markdown titles (`Segment lifecycle`).
const DOC_TOPICS: &[&str] = &[
    "lifecycle",
    "invalidation",
    "overview",
    "architecture",
    "configuration",
    "troubleshooting",
    "performance",
    "concurrency",
    "storage",
    "migration",
    "testing",
    "deployment",
    "security",
    "observability",
    "retries",
    "limits",
];

/// Words too common to make a useful query.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "how", "from", "into", "that", "this", "are", "its", "use",
    "using", "what", "when", "not", "all", "can", "you", "your",
];

fn pick(rng: &mut Rng, items: &[&'static str]) -> &'static str {
    items[rng.usize(..items.len())]
}

fn pick_string(rng: &mut Rng, items: &[String]) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    Some(items[rng.usize(..items.len())].clone())
}

fn chance(rng: &mut Rng, percent: usize) -> bool {
    rng.usize(..100) < percent
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn plural(noun: &str) -> String {
    let consonant_y = noun.ends_with('y') && !noun.ends_with("ey") && !noun.ends_with("ay");
    if consonant_y {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if ["s", "x", "ch", "sh"].iter().any(|end| noun.ends_with(end)) {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

/// The third person singular of a verb (`load` -> `loads`, `apply` -> `applies`).
fn third_person(verb: &str) -> String {
    plural(verb)
}

/// The lowercase words of a `PascalCase` name (`CacheManager` -> `cache manager`).
fn camel_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for ch in name.chars() {
        if ch.is_uppercase() || words.is_empty() {
            words.push(String::new());
        }
        if let Some(word) = words.last_mut() {
            word.extend(ch.to_lowercase());
        }
    }
    words
}

fn function_name(rng: &mut Rng) -> String {
    let verb = pick(rng, VERBS);
    let noun = pick(rng, NOUNS);
    match rng.usize(..100) {
        0..=59 => format!("{verb}_{noun}"),
        60..=84 => format!("{verb}_{}_{noun}", pick(rng, QUALIFIERS)),
        _ => format!("{verb}_{noun}_{}", plural(pick(rng, NOUNS))),
    }
}

fn class_name(rng: &mut Rng) -> String {
    let noun = pick(rng, NOUNS);
    let mut suffix = pick(rng, CLASS_SUFFIXES);
    if suffix.eq_ignore_ascii_case(noun) {
        suffix = "Manager";
    }
    let prefix = if chance(rng, 20) {
        pick(rng, CLASS_PREFIXES)
    } else {
        ""
    };
    format!("{prefix}{}{suffix}", capitalize(noun))
}

fn nested_class_name(rng: &mut Rng) -> String {
    if chance(rng, 70) {
        pick(rng, NESTED_CLASS_NAMES).to_string()
    } else {
        format!(
            "{}{}",
            capitalize(pick(rng, NOUNS)),
            pick(rng, NESTED_CLASS_NAMES)
        )
    }
}

fn constant_name(rng: &mut Rng) -> String {
    let noun = pick(rng, NOUNS).to_uppercase();
    match rng.usize(..6) {
        0 => format!("MAX_{noun}_SIZE"),
        1 => format!("DEFAULT_{noun}_TIMEOUT"),
        2 => format!("{noun}_RETRIES"),
        3 => format!("DEFAULT_{noun}_NAME"),
        4 => format!("{noun}_BATCH_SIZE"),
        _ => format!("{noun}_PREFIX"),
    }
}

/// A Python literal fitting a constant's name.
fn constant_value(rng: &mut Rng, name: &str) -> String {
    let word = name
        .split('_')
        .find(|part| !matches!(*part, "MAX" | "DEFAULT"))
        .unwrap_or("value")
        .to_lowercase();
    if name.ends_with("_TIMEOUT") {
        float_literal(rng)
    } else if name.ends_with("_NAME") {
        format!("\"{word}\"")
    } else if name.ends_with("_PREFIX") {
        format!("\"{word}:\"")
    } else if name.ends_with("_SIZE") {
        (rng.usize(1..=64) * 64).to_string()
    } else {
        rng.usize(1..=9).to_string()
    }
}

fn float_literal(rng: &mut Rng) -> String {
    pick(
        rng,
        &["0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "30.0"],
    )
    .to_string()
}

fn local_name(rng: &mut Rng) -> String {
    const SUFFIXES: &[&str] = &[
        "", "", "", "_count", "_total", "_items", "_key", "_value", "_name", "_map", "_size",
        "_info",
    ];
    format!("{}{}", pick(rng, NOUNS), pick(rng, SUFFIXES))
}

/// Short names of comprehension and loop variables.
fn item_name(rng: &mut Rng) -> &'static str {
    pick(
        rng,
        &["item", "entry", "key", "value", "name", "part", "element"],
    )
}

/// A sentence of prose for docstrings, comments and Markdown, with the words it used.
fn sentence(rng: &mut Rng) -> (String, [&'static str; 3]) {
    let first = pick(rng, NOUNS);
    let second = pick(rng, NOUNS);
    let verb = pick(rng, VERBS);
    let qualifier = pick(rng, QUALIFIERS);
    let text = match rng.usize(..6) {
        0 => format!(
            "{} the {qualifier} {first} for each {second}.",
            capitalize(&third_person(verb))
        ),
        1 => format!(
            "The {first} {} every {second} in the {qualifier} batch.",
            third_person(verb)
        ),
        2 => format!(
            "When the {first} is {qualifier}, the {second} {} it again.",
            third_person(verb)
        ),
        3 => format!("Each {first} keeps a {qualifier} {second} so that readers can {verb} it."),
        4 => format!("Call this to {verb} the {first} before the {second} is flushed."),
        _ => format!(
            "{} are grouped by {second} before the worker can {verb} them.",
            capitalize(&plural(first))
        ),
    };
    (text, [first, second, verb])
}

/// Identifiers used in one Python file, so that every definition gets a distinct name.
#[derive(Default)]
struct Names {
    used: HashSet<String>,
}

impl Names {
    /// A name from `make` that the file does not use yet.
    fn fresh(&mut self, rng: &mut Rng, mut make: impl FnMut(&mut Rng) -> String) -> String {
        for _ in 0..16 {
            let name = make(rng);
            if self.used.insert(name.clone()) {
                return name;
            }
        }
        let base = make(rng);
        let mut number = 2;
        loop {
            let name = format!("{base}{number}");
            if self.used.insert(name.clone()) {
                return name;
            }
            number += 1;
        }
    }

    /// Claims `name`; false when the file already uses it.
    fn claim(&mut self, name: &str) -> bool {
        self.used.insert(name.to_string())
    }
}

/// Text built line by line (Python source or Markdown), with an indentation level.
#[derive(Default)]
struct Code {
    text: String,
    lines: usize,
    depth: usize,
}

impl Code {
    fn line(&mut self, line: impl AsRef<str>) {
        for _ in 0..self.depth {
            self.text.push_str(INDENT);
        }
        self.text.push_str(line.as_ref());
        self.text.push('\n');
        self.lines += 1;
    }

    fn push_lines(&mut self, lines: &[String]) {
        for line in lines {
            self.line(line);
        }
    }

    fn blank(&mut self) {
        self.text.push('\n');
        self.lines += 1;
    }

    fn indent(&mut self) {
        self.depth += 1;
    }

    fn dedent(&mut self) {
        self.depth -= 1;
    }

    fn append(&mut self, other: Code) {
        self.text.push_str(&other.text);
        self.lines += other.lines;
    }
}

// ---------------------------------------------------------------------------------------------
// Tree layout
// ---------------------------------------------------------------------------------------------

/// Size class of a generated module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    Short,
    Medium,
    Long,
}

impl Size {
    /// Lowest and highest target line count, and the hard cap.
    fn lines(self) -> (usize, usize, usize) {
        match self {
            Size::Short => (10, 50, 50),
            Size::Medium => (60, 400, 450),
            Size::Long => (1000, 2900, 3000),
        }
    }

    /// Statements per function body.
    fn statements(self) -> (usize, usize) {
        match self {
            Size::Short => (1, 3),
            Size::Medium => (2, 6),
            Size::Long => (2, 9),
        }
    }

    /// Methods per class (besides `__init__`).
    fn methods(self) -> (usize, usize) {
        match self {
            Size::Short => (1, 2),
            Size::Medium => (2, 6),
            Size::Long => (3, 12),
        }
    }
}

/// A package directory (it holds an `__init__.py`).
struct PackagePlan {
    /// Directory relative to the corpus root.
    dir: String,
    dotted: String,
    depth: usize,
    /// Names of its modules and subpackages.
    children: HashSet<String>,
    /// Stems of its modules, in creation order.
    modules: Vec<String>,
}

/// A module other than `__init__.py`.
struct ModulePlan {
    rel: String,
    dotted: String,
    stem: String,
    package: usize,
    size: Size,
}

/// Where each generated Python file goes.
#[derive(Default)]
struct Layout {
    packages: Vec<PackagePlan>,
    modules: Vec<ModulePlan>,
    /// Packages that may still receive a subpackage.
    open: Vec<usize>,
}

/// Files per top-level package.
const FILES_PER_TOP_PACKAGE: usize = 400;
/// Deepest package level (0 is a top-level package).
const MAX_PACKAGE_DEPTH: usize = 3;

fn plan_layout(rng: &mut Rng, python_files: usize) -> Layout {
    let mut layout = Layout::default();
    let mut top_names = HashSet::new();
    for index in 0..python_files {
        if index % FILES_PER_TOP_PACKAGE == 0 {
            let name = unique_child(rng, &mut top_names, package_name);
            layout.add_package(name, None);
        } else if chance(rng, 15) {
            let parent = layout.random_parent(rng);
            let name = unique_child(rng, &mut layout.packages[parent].children, package_name);
            layout.add_package(name, Some(parent));
        } else {
            let package = rng.usize(..layout.packages.len());
            let stem = unique_child(rng, &mut layout.packages[package].children, module_name);
            layout.add_module(stem, package);
        }
    }
    assign_sizes(rng, &mut layout.modules, python_files);
    layout
}

/// About 5 % of the files are long modules; of the rest 40 % are medium, 60 % short.
fn assign_sizes(rng: &mut Rng, modules: &mut [ModulePlan], python_files: usize) {
    let long = python_files.div_ceil(20).min(modules.len());
    let long = if python_files < 10 { 0 } else { long };
    let mut order: Vec<usize> = (0..modules.len()).collect();
    rng.shuffle(&mut order);
    for (rank, index) in order.into_iter().enumerate() {
        modules[index].size = if rank < long {
            Size::Long
        } else if chance(rng, 40) {
            Size::Medium
        } else {
            Size::Short
        };
    }
}

fn unique_child(
    rng: &mut Rng,
    taken: &mut HashSet<String>,
    make: fn(&mut Rng) -> String,
) -> String {
    let mut names = Names {
        used: std::mem::take(taken),
    };
    let name = names.fresh(rng, make);
    *taken = names.used;
    name
}

fn package_name(rng: &mut Rng) -> String {
    match rng.usize(..3) {
        0 => plural(pick(rng, NOUNS)),
        1 => format!("{}_{}", pick(rng, NOUNS), pick(rng, NOUNS)),
        _ => pick(rng, NOUNS).to_string(),
    }
}

fn module_name(rng: &mut Rng) -> String {
    let noun = pick(rng, NOUNS);
    match rng.usize(..100) {
        0..=39 => noun.to_string(),
        40..=74 => format!("{noun}_{}", pick(rng, CLASS_SUFFIXES).to_lowercase()),
        75..=89 => format!("{}_{noun}", pick(rng, QUALIFIERS)),
        _ => format!("{noun}_utils"),
    }
}

impl Layout {
    fn add_package(&mut self, name: String, parent: Option<usize>) {
        let (dir, dotted, depth) = match parent {
            Some(index) => {
                let parent = &self.packages[index];
                (
                    format!("{}/{name}", parent.dir),
                    format!("{}.{name}", parent.dotted),
                    parent.depth + 1,
                )
            }
            None => (name.clone(), name, 0),
        };
        if depth < MAX_PACKAGE_DEPTH {
            self.open.push(self.packages.len());
        }
        self.packages.push(PackagePlan {
            dir,
            dotted,
            depth,
            children: HashSet::new(),
            modules: Vec::new(),
        });
    }

    fn add_module(&mut self, stem: String, package: usize) {
        let parent = &mut self.packages[package];
        parent.modules.push(stem.clone());
        self.modules.push(ModulePlan {
            rel: format!("{}/{stem}.py", parent.dir),
            dotted: format!("{}.{stem}", parent.dotted),
            stem,
            package,
            size: Size::Short,
        });
    }

    /// A package that may receive a subpackage.
    fn random_parent(&self, rng: &mut Rng) -> usize {
        self.open[rng.usize(..self.open.len())]
    }

    /// Stems of the other modules of a module's package.
    fn siblings(&self, module: &ModulePlan) -> Vec<String> {
        self.packages[module.package]
            .modules
            .iter()
            .filter(|stem| **stem != module.stem)
            .cloned()
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Whole generated tree
// ---------------------------------------------------------------------------------------------

/// A public class or function of a generated module, for documents and queries.
#[derive(Debug, Clone)]
struct Exported {
    name: String,
    /// Dotted module path.
    module: String,
    is_class: bool,
    /// Public method names (classes only).
    methods: Vec<String>,
}

/// The generated files, in memory.
struct Tree {
    /// (relative path, content)
    files: Vec<(String, String)>,
    python: Vec<String>,
    markdown: Vec<String>,
    queries: Vec<String>,
}

fn build_tree(spec: &CorpusSpec) -> Tree {
    let mut rng = Rng::with_seed(spec.seed);
    let layout = plan_layout(&mut rng, spec.python_files);
    let mut files = Vec::new();
    let mut exports: Vec<Vec<Exported>> = Vec::new();
    for module in &layout.modules {
        let siblings = layout.siblings(module);
        let mut generator = ModuleGen::new(rng.u64(..), module.size);
        let text = generator.module(module, &siblings);
        files.push((module.rel.clone(), text));
        exports.push(generator.exports);
    }
    for (index, package) in layout.packages.iter().enumerate() {
        let children: Vec<(&str, &[Exported])> = layout
            .modules
            .iter()
            .zip(&exports)
            .filter(|(module, _)| module.package == index)
            .map(|(module, found)| (module.stem.as_str(), found.as_slice()))
            .collect();
        let text = init_module(rng.u64(..), package, &children);
        files.push((format!("{}/__init__.py", package.dir), text));
    }
    let python: Vec<String> = sorted(files.iter().map(|(rel, _)| rel.clone()));
    let exports: Vec<Exported> = exports.into_iter().flatten().collect();
    let mut docs = DocGen::new(rng.u64(..), &exports, &layout.packages[0].dotted);
    let mut markdown = Vec::new();
    for (rel, title) in plan_docs(&mut rng, spec.markdown_files) {
        files.push((rel.clone(), docs.document(&title)));
        markdown.push(rel);
    }
    markdown.sort();
    let pools = generated_query_pools(&exports, &docs);
    let queries = choose_queries(pools, &mut rng);
    Tree {
        files,
        python,
        markdown,
        queries,
    }
}

fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut items: Vec<String> = items.collect();
    items.sort();
    items
}

// ---------------------------------------------------------------------------------------------
// Python modules
// ---------------------------------------------------------------------------------------------

/// Optional parts of a module, decided before its header is written.
#[derive(Default)]
struct Features {
    future_annotations: bool,
    type_checking: bool,
    import_fallback: bool,
    decorators: usize,
    async_code: bool,
    dataclasses: bool,
    protocols: bool,
}

/// Custom decorator factories a module may define and use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecoratorKind {
    Retry,
    Register,
    Timed,
}

impl DecoratorKind {
    const ALL: [DecoratorKind; 3] = [
        DecoratorKind::Retry,
        DecoratorKind::Register,
        DecoratorKind::Timed,
    ];

    fn name(self) -> &'static str {
        match self {
            DecoratorKind::Retry => "retry_on",
            DecoratorKind::Register => "register_handler",
            DecoratorKind::Timed => "log_duration",
        }
    }
}

/// What a function returns, which decides its annotation and its last statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Returns {
    Nothing,
    Value,
    Generator,
}

/// One parameter of a signature.
struct Param {
    name: String,
    annotation: String,
    default: Option<String>,
}

/// A `def` statement to write.
struct DefSpec {
    name: String,
    /// `self` or `cls`.
    receiver: Option<&'static str>,
    params: Vec<Param>,
    returns: String,
    is_async: bool,
    /// Decorator lines (a decorator with arguments may span several lines).
    decorators: Vec<String>,
    /// Marker lines (`*`, `*args: Any`, `/`) placed before the parameter at that index.
    markers: Vec<(usize, String)>,
    /// `**kwargs: Any` at the end.
    kwargs: bool,
}

/// Names a function body may refer to.
#[derive(Default)]
struct Scope {
    vars: Vec<String>,
    method: bool,
    is_async: bool,
    returns: Option<Returns>,
}

/// Writes one Python module from its own seed.
struct ModuleGen {
    rng: Rng,
    size: Size,
    names: Names,
    features: Features,
    /// Decorator factories defined so far in the module.
    decorators: Vec<DecoratorKind>,
    /// Top-level classes defined so far.
    classes: Vec<String>,
    /// Top-level synchronous functions defined so far.
    functions: Vec<String>,
    /// Top-level `async def` functions defined so far.
    async_functions: Vec<String>,
    constants: Vec<String>,
    exports: Vec<Exported>,
    /// Dotted path of the module.
    dotted: String,
}

/// The lengths of the lists an item may grow, to undo an item that does not fit.
struct Checkpoint {
    classes: usize,
    functions: usize,
    async_functions: usize,
    exports: usize,
}

impl ModuleGen {
    fn new(seed: u64, size: Size) -> Self {
        ModuleGen {
            rng: Rng::with_seed(seed),
            size,
            names: Names::default(),
            features: Features::default(),
            decorators: Vec::new(),
            classes: Vec::new(),
            functions: Vec::new(),
            async_functions: Vec::new(),
            constants: Vec::new(),
            exports: Vec::new(),
            dotted: String::new(),
        }
    }

    fn chance(&mut self, percent: usize) -> bool {
        chance(&mut self.rng, percent)
    }

    fn between(&mut self, (low, high): (usize, usize)) -> usize {
        self.rng.usize(low..=high)
    }

    /// The whole module: header, then classes and functions until the target length.
    fn module(&mut self, plan: &ModulePlan, siblings: &[String]) -> String {
        self.dotted = plan.dotted.clone();
        self.features = self.plan_features();
        let (low, high, cap) = self.size.lines();
        let target = self.rng.usize(low..=high);
        let mut code = Code::default();
        self.header(&mut code, &plan.stem, siblings);
        let mut items = 0;
        let mut misfits = 0;
        while (code.lines < target || items == 0) && misfits < 4 {
            let checkpoint = self.checkpoint();
            let budget = cap.saturating_sub(code.lines + 2);
            let item = self.item(budget, items == 0);
            if items > 0 && code.lines + 2 + item.lines > cap {
                self.rollback(checkpoint);
                misfits += 1;
                continue;
            }
            code.blank();
            code.blank();
            code.append(item);
            items += 1;
        }
        code.text
    }

    fn plan_features(&mut self) -> Features {
        let (type_checking, fallback, decorators, async_code, dataclasses) = match self.size {
            Size::Short => (0, 0, 0, 20, 0),
            Size::Medium => (25, 15, 35, 40, 30),
            Size::Long => (80, 60, 90, 80, 70),
        };
        let decorator_count = if self.chance(decorators) {
            self.rng.usize(1..=DecoratorKind::ALL.len())
        } else {
            0
        };
        Features {
            future_annotations: self.chance(85),
            type_checking: self.chance(type_checking),
            import_fallback: self.chance(fallback),
            decorators: decorator_count,
            async_code: self.chance(async_code),
            dataclasses: self.chance(dataclasses),
            protocols: self.size != Size::Short,
        }
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            classes: self.classes.len(),
            functions: self.functions.len(),
            async_functions: self.async_functions.len(),
            exports: self.exports.len(),
        }
    }

    fn rollback(&mut self, checkpoint: Checkpoint) {
        self.classes.truncate(checkpoint.classes);
        self.functions.truncate(checkpoint.functions);
        self.async_functions.truncate(checkpoint.async_functions);
        self.exports.truncate(checkpoint.exports);
    }

    // --- header ----------------------------------------------------------------------------

    fn header(&mut self, code: &mut Code, stem: &str, siblings: &[String]) {
        self.module_docstring(code, stem);
        code.blank();
        if self.features.future_annotations {
            code.line("from __future__ import annotations");
            code.blank();
        }
        self.imports(code);
        if self.features.type_checking {
            code.blank();
            self.type_checking_block(code, siblings);
        }
        if self.features.import_fallback {
            code.blank();
            self.import_fallback(code);
        }
        code.blank();
        self.constants(code);
        let mut kinds = DecoratorKind::ALL.to_vec();
        self.rng.shuffle(&mut kinds);
        for kind in kinds.into_iter().take(self.features.decorators) {
            if self.names.claim(kind.name()) {
                code.blank();
                code.blank();
                self.decorator_factory(code, kind);
                self.decorators.push(kind);
            }
        }
    }

    fn module_docstring(&mut self, code: &mut Code, stem: &str) {
        let title = capitalize(&stem.replace('_', " "));
        let (summary, _) = sentence(&mut self.rng);
        if self.size == Size::Short {
            code.line(format!("\"\"\"{title}: {}\"\"\"", lower_first(&summary)));
            return;
        }
        code.line(format!("\"\"\"{title}."));
        code.blank();
        for _ in 0..self.rng.usize(1..=3) {
            let (text, _) = sentence(&mut self.rng);
            code.line(text);
        }
        code.line("\"\"\"");
    }

    fn imports(&mut self, code: &mut Code) {
        let mut plain = vec!["logging", "os"];
        if self.features.async_code {
            plain.push("asyncio");
        }
        if self.features.decorators > 0 {
            plain.extend(["functools", "time"]);
        }
        plain.sort_unstable();
        for module in plain {
            code.line(format!("import {module}"));
        }
        code.line("from collections.abc import Callable, Iterable, Iterator, Mapping");
        if self.features.dataclasses {
            code.line("from dataclasses import dataclass, field");
        }
        code.line("from pathlib import Path");
        let mut typing = Vec::new();
        if self.features.type_checking {
            typing.push("TYPE_CHECKING");
        }
        typing.extend(["Any", "Optional"]);
        if self.features.protocols {
            typing.push("Protocol");
        }
        if self.features.decorators > 0 {
            typing.push("TypeVar");
        }
        code.line(format!("from typing import {}", typing.join(", ")));
    }

    fn type_checking_block(&mut self, code: &mut Code, siblings: &[String]) {
        let source = pick_string(&mut self.rng, siblings)
            .unwrap_or_else(|| pick(&mut self.rng, NOUNS).to_string());
        let imported = self.names.fresh(&mut self.rng, class_name);
        let name = self.names.fresh(&mut self.rng, function_name);
        let param = pick(&mut self.rng, NOUNS);
        code.line("if TYPE_CHECKING:");
        code.indent();
        code.line(format!("from .{source} import {imported}"));
        code.blank();
        code.line(format!("def {name}({param}: {imported}) -> bool: ..."));
        code.dedent();
    }

    fn import_fallback(&mut self, code: &mut Code) {
        let name = self.names.fresh(&mut self.rng, |rng| {
            format!("{}_checksum", pick(rng, NOUNS))
        });
        let extension = format!("_{}_ext", pick(&mut self.rng, NOUNS));
        code.line("try:");
        code.line(format!("{INDENT}from .{extension} import {name}"));
        code.line("except ImportError:  # pragma: no cover - the accelerator is optional");
        code.blank();
        code.indent();
        code.line(format!("def {name}(data: bytes) -> int:"));
        code.indent();
        code.line(format!(
            "\"\"\"Pure-Python fallback for the optional ``{extension}`` extension.\"\"\""
        ));
        code.line("checksum = 0");
        code.line("for byte in data:");
        code.line(format!(
            "{INDENT}checksum = (checksum * 31 + byte) & 0xFFFFFFFF"
        ));
        code.line("return checksum");
        code.dedent();
        code.dedent();
        self.functions.push(name);
    }

    fn constants(&mut self, code: &mut Code) {
        self.names.claim("LOGGER");
        code.line("LOGGER = logging.getLogger(__name__)");
        let count = match self.size {
            Size::Short => self.rng.usize(1..=2),
            _ => self.rng.usize(2..=5),
        };
        for _ in 0..count {
            let name = self.names.fresh(&mut self.rng, constant_name);
            let value = constant_value(&mut self.rng, &name);
            if self.chance(20) {
                let (note, _) = sentence(&mut self.rng);
                code.line(format!("# {note}"));
            }
            code.line(format!("{name} = {value}"));
            self.constants.push(name);
        }
        if self.features.decorators > 0 {
            self.names.claim("F");
            code.line("F = TypeVar(\"F\", bound=Callable[..., Any])");
        }
    }

    fn decorator_factory(&mut self, code: &mut Code, kind: DecoratorKind) {
        let lines: &[&str] = match kind {
            DecoratorKind::Retry => &[
                "def retry_on(",
                "    *exceptions: type[BaseException],",
                "    attempts: int = 3,",
                "    delay: float = 0.05,",
                ") -> Callable[[F], F]:",
                "    \"\"\"Retry the decorated callable when it raises one of ``exceptions``.\"\"\"",
                "",
                "    def decorator(func: F) -> F:",
                "        @functools.wraps(func)",
                "        def wrapper(*args: Any, **kwargs: Any) -> Any:",
                "            for attempt in range(attempts - 1):",
                "                try:",
                "                    return func(*args, **kwargs)",
                "                except exceptions as exc:",
                "                    LOGGER.debug(\"attempt %d failed: %s\", attempt + 1, exc)",
                "                    time.sleep(delay)",
                "            return func(*args, **kwargs)",
                "",
                "        return wrapper  # type: ignore[return-value]",
                "",
                "    return decorator",
            ],
            DecoratorKind::Register => &[
                "_HANDLERS: dict[str, Callable[..., Any]] = {}",
                "",
                "",
                "def register_handler(",
                "    name: str,",
                "    *,",
                "    priority: int = 0,",
                "    tags: tuple[str, ...] = (),",
                ") -> Callable[[F], F]:",
                "    \"\"\"Register the decorated callable under ``name``.\"\"\"",
                "",
                "    def decorator(func: F) -> F:",
                "        LOGGER.debug(\"registering %s (priority %d, tags %s)\", name, priority, tags)",
                "        _HANDLERS[name] = func",
                "        return func",
                "",
                "    return decorator",
            ],
            DecoratorKind::Timed => &[
                "def log_duration(",
                "    label: str,",
                "    *,",
                "    threshold: float = 0.1,",
                ") -> Callable[[F], F]:",
                "    \"\"\"Log calls of the decorated callable slower than ``threshold`` seconds.\"\"\"",
                "",
                "    def decorator(func: F) -> F:",
                "        @functools.wraps(func)",
                "        def wrapper(*args: Any, **kwargs: Any) -> Any:",
                "            started = time.perf_counter()",
                "            try:",
                "                return func(*args, **kwargs)",
                "            finally:",
                "                elapsed = time.perf_counter() - started",
                "                if elapsed > threshold:",
                "                    LOGGER.warning(\"%s took %.3fs\", label, elapsed)",
                "",
                "        return wrapper  # type: ignore[return-value]",
                "",
                "    return decorator",
            ],
        };
        if kind == DecoratorKind::Register {
            self.names.claim("_HANDLERS");
        }
        for line in lines {
            if line.is_empty() {
                code.blank();
            } else {
                code.line(line);
            }
        }
    }

    /// The lines applying a custom decorator, its arguments spread over several lines.
    fn decorator_usage(&mut self, kind: DecoratorKind) -> Vec<String> {
        let noun = pick(&mut self.rng, NOUNS);
        let verb = pick(&mut self.rng, VERBS);
        let mut lines = vec![format!("@{}(", kind.name())];
        match kind {
            DecoratorKind::Retry => {
                lines.push("    OSError,".to_string());
                if self.chance(50) {
                    lines.push("    TimeoutError,".to_string());
                }
                lines.push(format!("    attempts={},", self.rng.usize(2..=6)));
                lines.push(format!("    delay={},", float_literal(&mut self.rng)));
            }
            DecoratorKind::Register => {
                let other = pick(&mut self.rng, NOUNS);
                lines.push(format!("    \"{noun}.{verb}\","));
                lines.push(format!("    priority={},", self.rng.usize(0..=9)));
                lines.push(format!("    tags=(\"{noun}\", \"{other}\"),"));
            }
            DecoratorKind::Timed => {
                lines.push(format!("    \"{verb} {noun}\","));
                lines.push(format!("    threshold={},", float_literal(&mut self.rng)));
            }
        }
        lines.push(")".to_string());
        lines
    }

    // --- top-level items -------------------------------------------------------------------

    /// One top-level definition; the first item of a module is always a class or function.
    fn item(&mut self, budget: usize, first: bool) -> Code {
        if budget < 30 {
            return self.function_item(budget, false);
        }
        let roll = self.rng.usize(..100);
        match roll {
            0..=39 => self.function_item(budget, false),
            40..=49 if self.features.async_code => self.function_item(budget, true),
            40..=79 => self.class_item(budget),
            80..=87 if self.features.dataclasses => self.dataclass_item(),
            80..=87 => self.class_item(budget),
            88..=93 => self.exception_item(),
            94..=97 if self.features.protocols => self.protocol_item(),
            _ if first => self.function_item(budget, false),
            _ => self.table_item(),
        }
    }

    fn function_item(&mut self, budget: usize, is_async: bool) -> Code {
        let name = self.names.fresh(&mut self.rng, function_name);
        let mut decorators = Vec::new();
        if !is_async && !self.decorators.is_empty() && self.chance(30) {
            let kind = self.decorators[self.rng.usize(..self.decorators.len())];
            decorators = self.decorator_usage(kind);
        }
        let returns = self.returns_kind(is_async);
        let param_count = self.rng.usize(0..=4);
        let statements = self.statement_count(budget);
        let mut code = Code::default();
        let spec = self.def_spec(name.clone(), None, param_count, returns, is_async);
        let spec = DefSpec { decorators, ..spec };
        self.function(&mut code, &spec, returns, statements, false);
        if is_async {
            self.async_functions.push(name.clone());
        } else {
            self.functions.push(name.clone());
        }
        self.export(name, false, Vec::new());
        code
    }

    fn export(&mut self, name: String, is_class: bool, methods: Vec<String>) {
        if name.starts_with('_') {
            return;
        }
        self.exports.push(Exported {
            name,
            module: self.dotted.clone(),
            is_class,
            methods,
        });
    }

    fn statement_count(&mut self, budget: usize) -> usize {
        let wanted = self.between(self.size.statements());
        wanted.min(budget / 6).max(1)
    }

    fn returns_kind(&mut self, is_async: bool) -> Returns {
        match self.rng.usize(..100) {
            0..=29 => Returns::Nothing,
            30..=39 if !is_async => Returns::Generator,
            _ => Returns::Value,
        }
    }

    fn class_item(&mut self, budget: usize) -> Code {
        let name = self.names.fresh(&mut self.rng, class_name);
        let base = self.base_class();
        let mut code = Code::default();
        if self.chance(10) {
            let (note, _) = sentence(&mut self.rng);
            code.line(format!("# {note}"));
        }
        code.line(format!("class {name}{base}:"));
        code.indent();
        self.class_docstring(&mut code, &name);
        self.class_attributes(&mut code);
        code.blank();
        self.init_method(&mut code);
        let mut methods = Vec::new();
        let count = self.between(self.size.methods()).min(budget / 14).max(1);
        let mut dunders = Vec::new();
        for _ in 0..count {
            code.blank();
            self.member(&mut code, &name, &mut methods, &mut dunders);
        }
        if self.size != Size::Short && self.chance(30) {
            code.blank();
            self.nested_class(&mut code, 2);
        }
        code.dedent();
        self.classes.push(name.clone());
        self.export(name, true, methods);
        code
    }

    fn base_class(&mut self) -> String {
        match self.rng.usize(..100) {
            0..=59 => String::new(),
            60..=79 if !self.classes.is_empty() => {
                let base = pick_string(&mut self.rng, &self.classes).unwrap_or_default();
                format!("({base})")
            }
            _ => String::new(),
        }
    }

    fn class_docstring(&mut self, code: &mut Code, name: &str) {
        let words = camel_words(name).join(" ");
        let qualifier = pick(&mut self.rng, QUALIFIERS);
        let noun = plural(pick(&mut self.rng, NOUNS));
        let summary = format!("{} for {qualifier} {noun}.", capitalize(&words));
        if self.chance(60) {
            code.line(format!("\"\"\"{summary}\"\"\""));
            return;
        }
        code.line(format!("\"\"\"{summary}"));
        code.blank();
        let (text, _) = sentence(&mut self.rng);
        code.line(text);
        code.line("\"\"\"");
    }

    fn class_attributes(&mut self, code: &mut Code) {
        let count = self.rng.usize(0..=2);
        if count > 0 {
            code.blank();
        }
        for _ in 0..count {
            let name = self.names.fresh(&mut self.rng, constant_name);
            let value = constant_value(&mut self.rng, &name);
            if self.chance(50) {
                code.line(format!("{name} = {value}"));
            } else {
                let annotation = if value.starts_with('"') {
                    "str"
                } else if value.contains('.') {
                    "float"
                } else {
                    "int"
                };
                code.line(format!("{name}: {annotation} = {value}"));
            }
        }
    }

    fn init_method(&mut self, code: &mut Code) {
        let param_count = self.rng.usize(1..=3);
        let spec = self.def_spec(
            "__init__".to_string(),
            Some("self"),
            param_count,
            Returns::Nothing,
            false,
        );
        self.write_def(code, &spec);
        code.indent();
        for param in &spec.params {
            code.line(format!("self._{} = {}", param.name, param.name));
        }
        let counter = pick(&mut self.rng, NOUNS);
        code.line(format!("self._{counter}_count = 0"));
        if self.chance(40) {
            let noun = plural(pick(&mut self.rng, NOUNS));
            code.line(format!("self._{noun}: dict[str, Any] = {{}}"));
        }
        code.dedent();
    }

    /// One member of a class body.
    fn member(
        &mut self,
        code: &mut Code,
        class: &str,
        methods: &mut Vec<String>,
        dunders: &mut Vec<&'static str>,
    ) {
        let roll = self.rng.usize(..100);
        let name = match roll {
            0..=44 => self.instance_method(code, false),
            45..=54 => self.property(code),
            55..=64 => self.static_method(code),
            65..=74 => self.class_method(code, class),
            75..=84 if self.features.async_code => self.instance_method(code, true),
            85..=92 if !self.decorators.is_empty() => self.decorated_method(code),
            93..=99 => match self.dunder(code, class, dunders) {
                Some(()) => return,
                None => self.instance_method(code, false),
            },
            _ => self.instance_method(code, false),
        };
        if !name.starts_with('_') {
            methods.push(name);
        }
    }

    fn method_param_count(&mut self) -> usize {
        self.rng.usize(0..=3)
    }

    fn instance_method(&mut self, code: &mut Code, is_async: bool) -> String {
        let private = self.chance(15);
        let name = self.names.fresh(&mut self.rng, |rng| {
            let name = function_name(rng);
            if private { format!("_{name}") } else { name }
        });
        let returns = self.returns_kind(is_async);
        let params = self.method_param_count();
        let spec = self.def_spec(name.clone(), Some("self"), params, returns, is_async);
        let statements = self.statement_count(60);
        self.function(code, &spec, returns, statements, true);
        name
    }

    fn decorated_method(&mut self, code: &mut Code) -> String {
        let kind = self.decorators[self.rng.usize(..self.decorators.len())];
        let decorators = self.decorator_usage(kind);
        let name = self.names.fresh(&mut self.rng, function_name);
        let returns = self.returns_kind(false);
        let params = self.method_param_count();
        let spec = self.def_spec(name.clone(), Some("self"), params, returns, false);
        let spec = DefSpec { decorators, ..spec };
        let statements = self.statement_count(60);
        self.function(code, &spec, returns, statements, true);
        name
    }

    fn static_method(&mut self, code: &mut Code) -> String {
        let name = self.names.fresh(&mut self.rng, function_name);
        let returns = self.returns_kind(false);
        let params = self.rng.usize(1..=3);
        let spec = self.def_spec(name.clone(), None, params, returns, false);
        let spec = DefSpec {
            decorators: vec!["@staticmethod".to_string()],
            ..spec
        };
        let statements = self.statement_count(40);
        self.function(code, &spec, returns, statements, false);
        name
    }

    fn class_method(&mut self, code: &mut Code, class: &str) -> String {
        let noun = pick(&mut self.rng, NOUNS);
        let name = self
            .names
            .fresh(&mut self.rng, |rng| format!("from_{}", pick(rng, NOUNS)));
        let returns = if self.features.future_annotations {
            class.to_string()
        } else {
            format!("\"{class}\"")
        };
        code.line("@classmethod");
        code.line(format!(
            "def {name}(cls, {noun}: Mapping[str, Any]) -> {returns}:"
        ));
        code.indent();
        code.line(format!(
            "\"\"\"Build a {class} from a {noun} mapping.\"\"\""
        ));
        code.line(format!(
            "options = {{key: value for key, value in {noun}.items() if value is not None}}"
        ));
        code.line("return cls(**options)");
        code.dedent();
        name
    }

    fn property(&mut self, code: &mut Code) -> String {
        let name = self
            .names
            .fresh(&mut self.rng, |rng| pick(rng, NOUNS).to_string());
        let annotation = self.annotation();
        code.line("@property");
        code.line(format!("def {name}(self) -> {annotation}:"));
        code.indent();
        code.line(format!("\"\"\"The current {name}.\"\"\""));
        code.line(format!("return self._{name}"));
        code.dedent();
        if self.chance(40) {
            code.blank();
            code.line(format!("@{name}.setter"));
            code.line(format!("def {name}(self, value: {annotation}) -> None:"));
            code.indent();
            code.line(format!("self._{name} = value"));
            code.dedent();
        }
        name
    }

    /// A dunder method the class does not have yet; `None` when it has them all.
    fn dunder(
        &mut self,
        code: &mut Code,
        class: &str,
        dunders: &mut Vec<&'static str>,
    ) -> Option<()> {
        let all = ["__repr__", "__len__", "__iter__", "__contains__"];
        let free: Vec<&'static str> = all.into_iter().filter(|d| !dunders.contains(d)).collect();
        let chosen = *self.rng.choice(&free)?;
        dunders.push(chosen);
        let attribute = pick(&mut self.rng, NOUNS);
        match chosen {
            "__repr__" => {
                code.line("def __repr__(self) -> str:");
                code.line(format!(
                    "{INDENT}return f\"{class}({attribute}={{self._{attribute}!r}})\""
                ));
            }
            "__len__" => {
                code.line("def __len__(self) -> int:");
                code.line(format!("{INDENT}return len(self._{})", plural(attribute)));
            }
            "__iter__" => {
                code.line("def __iter__(self) -> Iterator[str]:");
                code.line(format!(
                    "{INDENT}yield from sorted(self._{})",
                    plural(attribute)
                ));
            }
            _ => {
                code.line("def __contains__(self, key: object) -> bool:");
                code.line(format!("{INDENT}return key in self._{}", plural(attribute)));
            }
        }
        Some(())
    }

    /// A class nested in a class, itself holding another one at most down to level 3.
    fn nested_class(&mut self, code: &mut Code, level: usize) {
        let name = self.names.fresh(&mut self.rng, nested_class_name);
        code.line(format!("class {name}:"));
        code.indent();
        let (text, _) = sentence(&mut self.rng);
        code.line(format!("\"\"\"{text}\"\"\""));
        if self.chance(50) {
            let constant = self.names.fresh(&mut self.rng, constant_name);
            let value = constant_value(&mut self.rng, &constant);
            code.blank();
            code.line(format!("{constant} = {value}"));
        }
        for _ in 0..self.rng.usize(1..=2) {
            code.blank();
            self.instance_method(code, false);
        }
        if level < 3 && self.chance(50) {
            code.blank();
            self.nested_class(code, level + 1);
        }
        code.dedent();
    }

    fn dataclass_item(&mut self) -> Code {
        let name = self.names.fresh(&mut self.rng, class_name);
        let options = pick(
            &mut self.rng,
            &["", "(frozen=True)", "(slots=True)", "(order=True)"],
        );
        let mut code = Code::default();
        code.line(format!("@dataclass{options}"));
        code.line(format!("class {name}:"));
        code.indent();
        self.class_docstring(&mut code, &name);
        code.blank();
        self.dataclass_fields(&mut code);
        let mut methods = Vec::new();
        for _ in 0..self.rng.usize(0..=2) {
            code.blank();
            methods.push(self.instance_method(&mut code, false));
        }
        code.dedent();
        methods.retain(|method| !method.starts_with('_'));
        self.classes.push(name.clone());
        self.export(name, true, methods);
        code
    }

    fn dataclass_fields(&mut self, code: &mut Code) {
        let mut taken = HashSet::new();
        let count = self.rng.usize(2..=5);
        let mut with_default = false;
        for _ in 0..count {
            let noun = pick(&mut self.rng, NOUNS);
            if !taken.insert(noun) {
                continue;
            }
            with_default = with_default || self.chance(40);
            let line = if !with_default {
                format!("{noun}: {}", self.annotation())
            } else {
                match self.rng.usize(..4) {
                    0 => format!("{noun}: int = {}", self.rng.usize(0..=16)),
                    1 => format!("{noun}: str = \"{noun}\""),
                    2 => format!("{noun}: list[str] = field(default_factory=list)"),
                    _ => format!("{noun}: Optional[str] = None"),
                }
            };
            code.line(line);
        }
    }

    fn exception_item(&mut self) -> Code {
        let name = self.names.fresh(&mut self.rng, |rng| {
            format!("{}Error", capitalize(pick(rng, NOUNS)))
        });
        let base = pick(
            &mut self.rng,
            &["Exception", "RuntimeError", "ValueError", "LookupError"],
        );
        let noun = pick(&mut self.rng, NOUNS);
        let verb = pick(&mut self.rng, VERBS);
        let mut code = Code::default();
        code.line(format!("class {name}({base}):"));
        code.indent();
        code.line(format!(
            "\"\"\"Raised when a {noun} cannot be used to {verb}.\"\"\""
        ));
        if self.chance(50) {
            code.blank();
            code.line(format!(
                "def __init__(self, {noun}: str, reason: str = \"\") -> None:"
            ));
            code.indent();
            code.line(format!(
                "super().__init__(f\"{noun} {{{noun}!r}}: {{reason}}\")"
            ));
            code.line(format!("self.{noun} = {noun}"));
            code.line("self.reason = reason");
            code.dedent();
        }
        code.dedent();
        self.classes.push(name.clone());
        self.export(name, true, Vec::new());
        code
    }

    fn protocol_item(&mut self) -> Code {
        let verb = pick(&mut self.rng, VERBS);
        let name = self.names.fresh(&mut self.rng, |rng| {
            format!(
                "Supports{}{}",
                capitalize(verb),
                capitalize(pick(rng, NOUNS))
            )
        });
        let noun = pick(&mut self.rng, NOUNS);
        let method = self
            .names
            .fresh(&mut self.rng, |rng| format!("{verb}_{}", pick(rng, NOUNS)));
        let attribute = self
            .names
            .fresh(&mut self.rng, |rng| pick(rng, QUALIFIERS).to_string());
        let mut code = Code::default();
        code.line(format!("class {name}(Protocol):"));
        code.indent();
        code.line(format!("\"\"\"Anything that can {verb} a {noun}.\"\"\""));
        code.blank();
        code.line(format!("def {method}(self, {noun}: Any, /) -> None: ..."));
        code.blank();
        code.line("@property");
        code.line(format!("def {attribute}(self) -> bool: ..."));
        code.dedent();
        self.export(name, true, vec![method, attribute]);
        code
    }

    /// A module-level lookup table spread over several lines (no symbol).
    fn table_item(&mut self) -> Code {
        let name = self.names.fresh(&mut self.rng, |rng| {
            format!("_{}_ALIASES", pick(rng, NOUNS).to_uppercase())
        });
        let mut code = Code::default();
        let (note, _) = sentence(&mut self.rng);
        code.line(format!("# {note}"));
        code.line(format!("{name}: dict[str, str] = {{"));
        for _ in 0..self.rng.usize(2..=6) {
            let key = pick(&mut self.rng, NOUNS);
            let value = pick(&mut self.rng, NOUNS);
            code.line(format!("{INDENT}\"{key}\": \"{value}\","));
        }
        code.line("}");
        code
    }

    // --- signatures --------------------------------------------------------------------------

    fn def_spec(
        &mut self,
        name: String,
        receiver: Option<&'static str>,
        param_count: usize,
        returns: Returns,
        is_async: bool,
    ) -> DefSpec {
        let mut taken: HashSet<String> = HashSet::new();
        let mut params: Vec<Param> = (0..param_count)
            .filter_map(|_| self.param(&mut taken))
            .collect();
        params.sort_by_key(|param| param.default.is_some());
        let first_default = params.iter().position(|param| param.default.is_some());
        let mut markers = Vec::new();
        let mut kwargs = false;
        if let Some(index) = first_default
            && self.chance(30)
        {
            markers.push((index, "*".to_string()));
        } else if self.chance(5) {
            markers.push((params.len(), "*args: Any".to_string()));
            kwargs = true;
        }
        if first_default != Some(0) && !params.is_empty() && self.chance(5) {
            markers.insert(0, (1, "/".to_string()));
        }
        DefSpec {
            name,
            receiver,
            params,
            returns: self.return_annotation(returns),
            is_async,
            decorators: Vec::new(),
            markers,
            kwargs,
        }
    }

    /// A parameter whose name is not in `taken` yet (`None` after a few clashes).
    fn param(&mut self, taken: &mut HashSet<String>) -> Option<Param> {
        for _ in 0..4 {
            let param = self.param_candidate();
            if taken.insert(param.name.clone()) {
                return Some(param);
            }
        }
        None
    }

    fn param_candidate(&mut self) -> Param {
        let noun = pick(&mut self.rng, NOUNS);
        let (name, annotation, default) = match self.rng.usize(..10) {
            0 | 1 => (noun.to_string(), self.annotation(), None),
            2 => (format!("{noun}_id"), "int".to_string(), None),
            3 => (
                format!("{noun}_name"),
                "str".to_string(),
                Some(format!("\"{noun}\"")),
            ),
            4 => (format!("{noun}_path"), "Path | str".to_string(), None),
            5 => (plural(noun), "Iterable[str]".to_string(), None),
            6 => {
                let flag = pick(
                    &mut self.rng,
                    &[
                        "strict",
                        "force",
                        "verbose",
                        "recursive",
                        "dry_run",
                        "refresh",
                    ],
                );
                (
                    flag.to_string(),
                    "bool".to_string(),
                    Some("False".to_string()),
                )
            }
            7 => {
                let (name, annotation, value) = match self.rng.usize(..4) {
                    0 => ("timeout", "float", float_literal(&mut self.rng)),
                    1 => ("limit", "int", self.rng.usize(1..=100).to_string()),
                    2 => ("retries", "int", self.rng.usize(1..=5).to_string()),
                    _ => (
                        "batch_size",
                        "int",
                        (self.rng.usize(1..=16) * 32).to_string(),
                    ),
                };
                (name.to_string(), annotation.to_string(), Some(value))
            }
            8 => (
                "encoding".to_string(),
                "str".to_string(),
                Some("\"utf-8\"".to_string()),
            ),
            _ => (
                "options".to_string(),
                "Mapping[str, Any] | None".to_string(),
                Some("None".to_string()),
            ),
        };
        Param {
            name,
            annotation,
            default,
        }
    }

    /// A type annotation, sometimes naming a class of the module.
    fn annotation(&mut self) -> String {
        if !self.classes.is_empty() && self.chance(25) {
            let class = pick_string(&mut self.rng, &self.classes).unwrap_or_default();
            return format!("Optional[{class}]");
        }
        pick(
            &mut self.rng,
            &[
                "str",
                "int",
                "bool",
                "float",
                "bytes",
                "Any",
                "list[str]",
                "dict[str, Any]",
                "Mapping[str, Any]",
                "Optional[str]",
                "tuple[int, ...]",
            ],
        )
        .to_string()
    }

    fn return_annotation(&mut self, returns: Returns) -> String {
        match returns {
            Returns::Nothing => "None".to_string(),
            Returns::Generator => "Iterator[str]".to_string(),
            Returns::Value => self.annotation(),
        }
    }

    /// Writes the decorators and the `def` line(s), spread over several lines when long.
    fn write_def(&mut self, code: &mut Code, spec: &DefSpec) {
        code.push_lines(&spec.decorators);
        let keyword = if spec.is_async { "async def" } else { "def" };
        let parts = signature_parts(spec);
        let single = format!(
            "{keyword} {}({}) -> {}:",
            spec.name,
            parts.join(", "),
            spec.returns
        );
        let long = single.len() + code.depth * INDENT.len() > 88;
        if !long && (spec.params.len() < 3 || self.chance(30)) {
            code.line(single);
            return;
        }
        code.line(format!("{keyword} {}(", spec.name));
        code.indent();
        for part in &parts {
            code.line(format!("{part},"));
        }
        code.dedent();
        code.line(format!(") -> {}:", spec.returns));
    }

    /// A complete function or method: decorators, signature, docstring and body.
    fn function(
        &mut self,
        code: &mut Code,
        spec: &DefSpec,
        returns: Returns,
        statements: usize,
        method: bool,
    ) {
        self.write_def(code, spec);
        code.indent();
        if self.chance(75) {
            self.function_docstring(code, spec, returns);
        }
        let mut scope = Scope {
            vars: spec.params.iter().map(|param| param.name.clone()).collect(),
            method,
            is_async: spec.is_async,
            returns: Some(returns),
        };
        if spec.kwargs {
            scope.vars.push("args".to_string());
        }
        if statements >= 2 && self.chance(15) {
            self.nested_function(code, &mut scope);
        }
        for _ in 0..statements {
            self.statement(code, &mut scope);
        }
        self.final_statement(code, &mut scope, returns);
        code.dedent();
    }

    fn function_docstring(&mut self, code: &mut Code, spec: &DefSpec, returns: Returns) {
        let summary = summary_from_name(&spec.name);
        if spec.params.is_empty() || self.chance(70) {
            code.line(format!("\"\"\"{summary}\"\"\""));
            return;
        }
        code.line(format!("\"\"\"{summary}"));
        code.blank();
        code.line("Args:");
        for param in &spec.params {
            let words = param.name.replace('_', " ");
            code.line(format!("{INDENT}{}: The {words} to use.", param.name));
        }
        if returns != Returns::Nothing {
            code.blank();
            let heading = if returns == Returns::Generator {
                "Yields"
            } else {
                "Returns"
            };
            code.line(format!("{heading}:"));
            let (text, _) = sentence(&mut self.rng);
            code.line(format!("{INDENT}{text}"));
        }
        code.line("\"\"\"");
    }

    // --- statements --------------------------------------------------------------------------

    fn statement(&mut self, code: &mut Code, scope: &mut Scope) {
        match self.rng.usize(..100) {
            0..=21 => self.assignment(code, scope),
            22..=30 => self.log_line(code, scope),
            31..=40 => self.for_loop(code, scope),
            41..=50 => self.if_block(code, scope),
            51..=55 => self.with_block(code, scope),
            56..=62 => self.try_block(code, scope),
            63..=68 => self.comprehension(code, scope),
            69..=73 => {
                self.comment(code);
                self.assignment(code, scope);
            }
            74..=80 => self.multiline_call(code, scope),
            81..=84 => self.walrus(code, scope),
            85 => self.match_block(code, scope),
            86..=92 if scope.method => self.self_update(code, scope),
            93..=99 if scope.is_async => self.await_statement(code, scope),
            _ => self.assignment(code, scope),
        }
    }

    /// A new local variable name, not clashing with the scope.
    fn new_local(&mut self, scope: &mut Scope) -> String {
        let mut name = local_name(&mut self.rng);
        let mut number = 2;
        while scope.vars.contains(&name) {
            name = format!("{}{number}", local_name(&mut self.rng));
            number += 1;
        }
        scope.vars.push(name.clone());
        name
    }

    /// A variable of the scope, assigning one first when there is none.
    fn variable(&mut self, code: &mut Code, scope: &mut Scope) -> String {
        if scope.vars.is_empty() {
            self.assignment(code, scope);
        }
        scope.vars[self.rng.usize(..scope.vars.len())].clone()
    }

    fn assignment(&mut self, code: &mut Code, scope: &mut Scope) {
        let value = self.expression(scope);
        let name = self.new_local(scope);
        if self.chance(10) {
            let note = pick(&mut self.rng, QUALIFIERS);
            code.line(format!("{name} = {value}  # {note} value"));
        } else {
            code.line(format!("{name} = {value}"));
        }
    }

    fn expression(&mut self, scope: &Scope) -> String {
        let var = pick_string(&mut self.rng, &scope.vars);
        let Some(var) = var else {
            return self.rng.usize(0..=64).to_string();
        };
        match self.rng.usize(..100) {
            0..=29 => self.rng.usize(0..=64).to_string(),
            30..=44 => format!("len({var})"),
            45..=54 => format!("str({var}).strip().lower()"),
            55..=64 => format!("{var} if {var} is not None else {}", self.rng.usize(0..=9)),
            65..=79 if !self.functions.is_empty() => {
                let callee = pick_string(&mut self.rng, &self.functions).unwrap_or_default();
                format!("{callee}({var})")
            }
            80..=89 if !self.constants.is_empty() => {
                pick_string(&mut self.rng, &self.constants).unwrap_or_default()
            }
            _ => format!("sorted({var})"),
        }
    }

    fn log_line(&mut self, code: &mut Code, scope: &mut Scope) {
        let var = self.variable(code, scope);
        let level = pick(&mut self.rng, &["debug", "debug", "info", "warning"]);
        let verb = pick(&mut self.rng, VERBS);
        let noun = pick(&mut self.rng, NOUNS);
        code.line(format!("LOGGER.{level}(\"{verb} {noun} %s\", {var})"));
    }

    fn comment(&mut self, code: &mut Code) {
        let (text, [noun, ..]) = sentence(&mut self.rng);
        match self.rng.usize(..3) {
            0 => code.line(format!("# TODO({noun}): {}", lower_first(&text))),
            1 => code.line(format!("# NOTE: {}", lower_first(&text))),
            _ => code.line(format!("# {text}")),
        }
    }

    fn for_loop(&mut self, code: &mut Code, scope: &mut Scope) {
        let source = self.variable(code, scope);
        let item = item_name(&mut self.rng);
        if self.chance(50) {
            let collected = self.new_local(scope);
            code.line(format!("{collected} = []"));
            code.line(format!("for {item} in {source}:"));
            code.indent();
            code.line(format!("if {item} is None:"));
            code.line(format!("{INDENT}continue"));
            code.line(format!("{collected}.append({item})"));
            code.dedent();
        } else {
            let total = self.new_local(scope);
            code.line(format!("{total} = 0"));
            code.line(format!("for index, {item} in enumerate({source}):"));
            code.indent();
            code.line(format!("{total} += index"));
            code.line(format!("LOGGER.debug(\"%d: %s\", index, {item})"));
            code.dedent();
        }
    }

    fn if_block(&mut self, code: &mut Code, scope: &mut Scope) {
        let var = self.variable(code, scope);
        let noun = pick(&mut self.rng, NOUNS);
        match self.rng.usize(..4) {
            0 => {
                code.line(format!("if {var} is None:"));
                code.line(format!("{INDENT}raise ValueError(\"{noun} is required\")"));
            }
            1 => {
                code.line(format!("if not {var}:"));
                code.indent();
                code.line(format!("LOGGER.debug(\"empty {noun}\")"));
                code.line(early_return(scope.returns));
                code.dedent();
            }
            2 => {
                code.line(format!("if isinstance({var}, str):"));
                code.line(format!("{INDENT}{var} = [{var}]"));
                code.line(format!("elif {var} is None:"));
                code.line(format!("{INDENT}{var} = []"));
                code.line("else:");
                code.line(format!("{INDENT}{var} = list({var})"));
            }
            _ => {
                let limit = self.rng.usize(2..=32);
                let local = self.new_local(scope);
                code.line(format!("if {var} and len({var}) > {limit}:"));
                code.line(format!("{INDENT}{local} = {var}[:{limit}]"));
                code.line("else:");
                code.line(format!("{INDENT}{local} = {var}"));
            }
        }
    }

    fn with_block(&mut self, code: &mut Code, scope: &mut Scope) {
        let var = self.variable(code, scope);
        let local = self.new_local(scope);
        if self.chance(60) {
            code.line(format!("with open({var}, encoding=\"utf-8\") as handle:"));
            code.line(format!("{INDENT}{local} = handle.read()"));
        } else {
            code.line(format!("with os.scandir({var}) as entries:"));
            code.line(format!(
                "{INDENT}{local} = sorted(entry.name for entry in entries)"
            ));
        }
    }

    fn try_block(&mut self, code: &mut Code, scope: &mut Scope) {
        let var = self.variable(code, scope);
        let local = self.new_local(scope);
        let noun = pick(&mut self.rng, NOUNS);
        code.line("try:");
        if self.chance(50) {
            code.line(format!("{INDENT}{local} = {var}[\"{noun}\"]"));
            code.line("except (KeyError, TypeError) as exc:");
            code.indent();
            code.line(format!("LOGGER.warning(\"missing {noun}: %s\", exc)"));
            code.line(format!("{local} = None"));
            code.dedent();
        } else {
            code.line(format!("{INDENT}{local} = int({var})"));
            code.line("except ValueError:");
            code.line(format!("{INDENT}{local} = {}", self.rng.usize(0..=9)));
            code.line("finally:");
            code.line(format!("{INDENT}LOGGER.debug(\"parsed {noun}\")"));
        }
    }

    fn comprehension(&mut self, code: &mut Code, scope: &mut Scope) {
        let var = self.variable(code, scope);
        let item = item_name(&mut self.rng);
        let value = match self.rng.usize(..5) {
            0 => format!("[{item} for {item} in {var} if {item}]"),
            1 => format!("{{{item}: len(str({item})) for {item} in {var}}}"),
            2 => format!("sorted({var}, key=lambda {item}: str({item}))"),
            3 => format!("sum(1 for _ in {var})"),
            _ => format!("any({item} is None for {item} in {var})"),
        };
        let local = self.new_local(scope);
        code.line(format!("{local} = {value}"));
    }

    fn multiline_call(&mut self, code: &mut Code, scope: &mut Scope) {
        let var = self.variable(code, scope);
        let callee = pick_string(&mut self.rng, &self.functions).unwrap_or_else(|| "dict".into());
        let mut keywords = vec![
            "strict=True".to_string(),
            format!("limit={}", self.rng.usize(1..=100)),
            format!("timeout={}", float_literal(&mut self.rng)),
            "default=None".to_string(),
        ];
        self.rng.shuffle(&mut keywords);
        let local = self.new_local(scope);
        code.line(format!("{local} = {callee}("));
        code.indent();
        code.line(format!("{var},"));
        for keyword in keywords.iter().take(self.rng.usize(1..=2)) {
            code.line(format!("{keyword},"));
        }
        code.dedent();
        code.line(")");
    }

    fn walrus(&mut self, code: &mut Code, scope: &mut Scope) {
        let var = self.variable(code, scope);
        let local = self.new_local(scope);
        let noun = plural(pick(&mut self.rng, NOUNS));
        code.line(format!(
            "if ({local} := len({var})) > {}:",
            self.rng.usize(1..=16)
        ));
        code.line(format!(
            "{INDENT}LOGGER.info(\"%d {noun} pending\", {local})"
        ));
    }

    /// A `match` statement with a few pattern kinds and a final wildcard.
    fn match_block(&mut self, code: &mut Code, scope: &mut Scope) {
        let var = self.variable(code, scope);
        let local = self.new_local(scope);
        let noun = pick(&mut self.rng, NOUNS);
        let mut cases: Vec<[String; 2]> = vec![
            [
                "case {\"kind\": str() as kind, **rest}:".to_string(),
                "LOGGER.debug(\"kind %s with %d keys\", kind, len(rest))".to_string(),
            ],
            [
                "case [first, *others]:".to_string(),
                format!("{local} = (first, len(others))"),
            ],
            [
                format!(
                    "case int() | float() as number if number > {}:",
                    self.rng.usize(0..=9)
                ),
                format!("{local} = number"),
            ],
            ["case None:".to_string(), "pass".to_string()],
        ];
        self.rng.shuffle(&mut cases);
        code.line(format!("match {var}:"));
        code.indent();
        for [pattern, body] in cases.iter().take(self.rng.usize(2..=4)) {
            code.line(pattern);
            code.line(format!("{INDENT}{body}"));
        }
        code.line("case _:");
        code.line(format!(
            "{INDENT}LOGGER.warning(\"unexpected {noun}: %r\", {var})"
        ));
        code.dedent();
    }

    fn self_update(&mut self, code: &mut Code, scope: &mut Scope) {
        let noun = pick(&mut self.rng, NOUNS);
        if self.chance(50) {
            code.line(format!("self._{noun}_count += 1"));
        } else {
            let var = self.variable(code, scope);
            code.line(format!("self._{noun} = {var}"));
        }
    }

    fn await_statement(&mut self, code: &mut Code, scope: &mut Scope) {
        match self.rng.usize(..4) {
            0 => code.line("await asyncio.sleep(0)"),
            1 if !self.async_functions.is_empty() => {
                let var = self.variable(code, scope);
                let callee = pick_string(&mut self.rng, &self.async_functions).unwrap_or_default();
                let local = self.new_local(scope);
                code.line(format!(
                    "{local} = await asyncio.wait_for({callee}({var}), timeout={})",
                    float_literal(&mut self.rng)
                ));
            }
            2 => {
                let var = self.variable(code, scope);
                let item = item_name(&mut self.rng);
                code.line(format!("async for {item} in {var}:"));
                code.line(format!("{INDENT}LOGGER.debug(\"received %s\", {item})"));
            }
            _ => {
                let local = self.new_local(scope);
                code.line(format!("{local} = await asyncio.to_thread(os.cpu_count)"));
            }
        }
    }

    /// A function defined inside the body (never a symbol), then used.
    fn nested_function(&mut self, code: &mut Code, scope: &mut Scope) {
        let name = self.names.fresh(&mut self.rng, |rng| {
            format!("_{}_{}", pick(rng, VERBS), pick(rng, NOUNS))
        });
        if self.chance(50) {
            let var = self.variable(code, scope);
            let item = item_name(&mut self.rng);
            code.line(format!("def {name}({item}: Any) -> bool:"));
            code.line(format!(
                "{INDENT}return {item} is not None and bool({item})"
            ));
            code.blank();
            let local = self.new_local(scope);
            code.line(format!(
                "{local} = [{item} for {item} in {var} if {name}({item})]"
            ));
        } else {
            let counter = self.new_local(scope);
            code.line(format!("{counter} = 0"));
            code.blank();
            code.line(format!("def {name}() -> None:"));
            code.indent();
            code.line(format!("nonlocal {counter}"));
            code.line(format!("{counter} += 1"));
            code.dedent();
            code.blank();
            code.line(format!("for _ in range({}):", self.rng.usize(1..=8)));
            code.line(format!("{INDENT}{name}()"));
        }
    }

    fn final_statement(&mut self, code: &mut Code, scope: &mut Scope, returns: Returns) {
        match returns {
            Returns::Nothing => {}
            Returns::Value => {
                let var = self.variable(code, scope);
                code.line(format!("return {var}"));
            }
            Returns::Generator => {
                let var = self.variable(code, scope);
                code.line(format!("yield from map(str, {var})"));
            }
        }
    }
}

/// The parameter list of a signature, markers included.
fn signature_parts(spec: &DefSpec) -> Vec<String> {
    let mut parts: Vec<String> = spec.receiver.iter().map(|r| r.to_string()).collect();
    for (index, param) in spec.params.iter().enumerate() {
        for (at, marker) in &spec.markers {
            if *at == index {
                parts.push(marker.clone());
            }
        }
        let mut part = format!("{}: {}", param.name, param.annotation);
        if let Some(default) = &param.default {
            part.push_str(" = ");
            part.push_str(default);
        }
        parts.push(part);
    }
    for (at, marker) in &spec.markers {
        if *at >= spec.params.len() && marker != "/" {
            parts.push(marker.clone());
        }
    }
    if spec.kwargs {
        parts.push("**kwargs: Any".to_string());
    }
    parts
}

/// The `return` that leaves a body early, fitting what the function returns.
fn early_return(returns: Option<Returns>) -> &'static str {
    match returns {
        Some(Returns::Value) => "return None",
        _ => "return",
    }
}

/// `load_cached_segment` -> `Load the cached segment.`
fn summary_from_name(name: &str) -> String {
    let mut words = name.trim_matches('_').split('_');
    let verb = capitalize(words.next().unwrap_or("Handle"));
    let rest: Vec<&str> = words.collect();
    if rest.is_empty() {
        format!("{verb}.")
    } else {
        format!("{verb} the {}.", rest.join(" "))
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An `__init__.py`: re-exports from its modules and a small function.
fn init_module(seed: u64, package: &PackagePlan, children: &[(&str, &[Exported])]) -> String {
    let mut rng = Rng::with_seed(seed);
    let mut code = Code::default();
    let (text, _) = sentence(&mut rng);
    code.line(format!(
        "\"\"\"The ``{}`` package: {}\"\"\"",
        package.dotted,
        lower_first(&text)
    ));
    code.blank();
    code.line("from __future__ import annotations");
    code.blank();
    let exported = reexports(&mut rng, children);
    match rng.usize(..10) {
        0..=4 => version_init(&mut rng, &mut code, &exported),
        5..=7 => lazy_init(&mut code, &exported),
        _ => listing_init(&mut rng, &mut code, &exported),
    }
    code.text
}

/// (module stem, name) pairs re-exported by a package, at most two per module.
fn reexports(rng: &mut Rng, children: &[(&str, &[Exported])]) -> Vec<(String, String)> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for (stem, exports) in children.iter().take(4) {
        let mut names: Vec<&String> = exports.iter().map(|export| &export.name).collect();
        rng.shuffle(&mut names);
        for name in names.into_iter().take(2) {
            if seen.insert(name.clone()) {
                found.push((stem.to_string(), name.clone()));
            }
        }
    }
    found
}

fn import_lines(code: &mut Code, exported: &[(String, String)]) {
    let mut stems: Vec<&String> = exported.iter().map(|(stem, _)| stem).collect();
    stems.sort();
    stems.dedup();
    for stem in stems {
        let mut names: Vec<&str> = exported
            .iter()
            .filter(|(other, _)| other == stem)
            .map(|(_, name)| name.as_str())
            .collect();
        names.sort_unstable();
        code.line(format!("from .{stem} import {}", names.join(", ")));
    }
}

fn all_list(code: &mut Code, exported: &[(String, String)], extra: &str) {
    let mut names: Vec<&str> = exported.iter().map(|(_, name)| name.as_str()).collect();
    names.push(extra);
    names.sort_unstable();
    code.line("__all__ = [");
    for name in names {
        code.line(format!("{INDENT}\"{name}\","));
    }
    code.line("]");
}

fn version_init(rng: &mut Rng, code: &mut Code, exported: &[(String, String)]) {
    import_lines(code, exported);
    if !exported.is_empty() {
        code.blank();
    }
    all_list(code, exported, "get_version");
    code.blank();
    code.line(format!(
        "__version__ = \"{}.{}.{}\"",
        rng.usize(0..=3),
        rng.usize(0..=20),
        rng.usize(0..=9)
    ));
    code.blank();
    code.blank();
    code.line("def get_version() -> str:");
    code.line(format!("{INDENT}\"\"\"Return the package version.\"\"\""));
    code.line(format!("{INDENT}return __version__"));
}

fn lazy_init(code: &mut Code, exported: &[(String, String)]) {
    code.line("import importlib");
    code.line("from typing import Any");
    code.blank();
    code.line("_LAZY_IMPORTS: dict[str, str] = {");
    for (stem, name) in exported {
        code.line(format!("{INDENT}\"{name}\": \".{stem}\","));
    }
    code.line("}");
    code.blank();
    code.blank();
    code.line("def __getattr__(name: str) -> Any:");
    code.indent();
    code.line("\"\"\"Import the defining module on first access.\"\"\"");
    code.line("if name in _LAZY_IMPORTS:");
    code.line(format!(
        "{INDENT}module = importlib.import_module(_LAZY_IMPORTS[name], __name__)"
    ));
    code.line(format!("{INDENT}return getattr(module, name)"));
    code.line("raise AttributeError(f\"module {__name__!r} has no attribute {name!r}\")");
    code.dedent();
    code.blank();
    code.blank();
    code.line("def __dir__() -> list[str]:");
    code.line(format!(
        "{INDENT}return sorted(list(globals()) + list(_LAZY_IMPORTS))"
    ));
}

fn listing_init(rng: &mut Rng, code: &mut Code, exported: &[(String, String)]) {
    let name = format!("available_{}", plural(pick(rng, NOUNS)));
    import_lines(code, exported);
    if !exported.is_empty() {
        code.blank();
    }
    all_list(code, exported, &name);
    code.blank();
    code.blank();
    code.line(format!("def {name}() -> list[str]:"));
    code.line(format!(
        "{INDENT}\"\"\"List the public names of this package.\"\"\""
    ));
    code.line(format!("{INDENT}return sorted(__all__)"));
}

// ---------------------------------------------------------------------------------------------
// Markdown documents
// ---------------------------------------------------------------------------------------------

/// Sub-directories of `docs/`.
const DOC_SECTIONS: &[&str] = &["guides", "reference", "howto", "design", "operations"];

/// (relative path, title) of each document: `docs/index.md` first.
fn plan_docs(rng: &mut Rng, count: usize) -> Vec<(String, String)> {
    let mut docs = Vec::new();
    let mut taken = HashSet::new();
    for index in 0..count {
        if index == 0 {
            docs.push(("docs/index.md".to_string(), "Documentation".to_string()));
            continue;
        }
        let (noun, topic) = loop {
            let pair = (pick(rng, NOUNS), pick(rng, DOC_TOPICS));
            if taken.insert(pair) || taken.len() >= NOUNS.len() * DOC_TOPICS.len() {
                break pair;
            }
        };
        let dir = if chance(rng, 30) {
            "docs".to_string()
        } else {
            format!("docs/{}", pick(rng, DOC_SECTIONS))
        };
        let mut rel = format!("{dir}/{noun}-{topic}.md");
        if docs.iter().any(|(other, _)| *other == rel) {
            rel = format!("{dir}/{noun}-{topic}-{index}.md");
        }
        docs.push((rel, format!("{} {topic}", capitalize(noun))));
    }
    docs
}

/// Writes Markdown documents and remembers their headings and words for queries.
struct DocGen<'a> {
    rng: Rng,
    exports: &'a [Exported],
    package: &'a str,
    headings: Vec<String>,
    words: BTreeSet<&'static str>,
}

impl<'a> DocGen<'a> {
    fn new(seed: u64, exports: &'a [Exported], package: &'a str) -> Self {
        DocGen {
            rng: Rng::with_seed(seed),
            exports,
            package,
            headings: Vec::new(),
            words: BTreeSet::new(),
        }
    }

    fn document(&mut self, title: &str) -> String {
        let mut md = Code::default();
        self.heading(&mut md, 1, title.to_string());
        self.paragraph(&mut md, 2);
        let sections = if chance(&mut self.rng, 15) {
            self.rng.usize(6..=16)
        } else {
            self.rng.usize(1..=4)
        };
        for _ in 0..sections {
            self.section(&mut md);
        }
        md.text
    }

    fn heading(&mut self, md: &mut Code, level: usize, title: String) {
        md.line(format!("{} {title}", "#".repeat(level)));
        md.blank();
        self.headings.push(title);
    }

    fn sentence(&mut self) -> String {
        let (text, words) = sentence(&mut self.rng);
        self.words.extend(words);
        text
    }

    fn paragraph(&mut self, md: &mut Code, max_sentences: usize) {
        let count = self.rng.usize(1..=max_sentences);
        let text: Vec<String> = (0..count).map(|_| self.sentence()).collect();
        md.line(text.join(" "));
        md.blank();
    }

    fn section(&mut self, md: &mut Code) {
        match self.rng.usize(..10) {
            0..=3 if !self.exports.is_empty() => self.symbol_section(md),
            0..=4 => self.concept_section(md),
            5..=7 => self.howto_section(md),
            _ => self.config_section(md),
        }
    }

    fn concept_section(&mut self, md: &mut Code) {
        let noun = pick(&mut self.rng, NOUNS);
        let topic = pick(&mut self.rng, DOC_TOPICS);
        self.heading(md, 2, format!("{} {topic}", capitalize(noun)));
        self.paragraph(md, 4);
        for _ in 0..self.rng.usize(2..=5) {
            let item = self.sentence();
            if chance(&mut self.rng, 30) {
                let key = pick(&mut self.rng, NOUNS);
                md.line(format!("- **{key}**: {}", lower_first(&item)));
            } else {
                md.line(format!("- {item}"));
            }
        }
        md.blank();
        if chance(&mut self.rng, 40) {
            let sub = capitalize(pick(&mut self.rng, DOC_TOPICS));
            self.heading(md, 3, sub);
            self.paragraph(md, 3);
        }
    }

    fn symbol_section(&mut self, md: &mut Code) {
        let export = self.exports[self.rng.usize(..self.exports.len())].clone();
        self.heading(md, 2, export.name.clone());
        let text = self.sentence();
        md.line(format!(
            "`{}` is defined in `{}`. {text}",
            export.name, export.module
        ));
        md.blank();
        let method = pick_string(&mut self.rng, &export.methods);
        if let Some(method) = &method {
            self.heading(md, 3, format!("{}.{method}", export.name));
            self.paragraph(md, 2);
        }
        let (comment, _) = sentence(&mut self.rng);
        md.line("```python");
        md.line(format!("from {} import {}", export.module, export.name));
        md.blank();
        md.line(format!("# {comment}"));
        if export.is_class {
            let var = pick(&mut self.rng, NOUNS);
            md.line(format!("{var} = {}()", export.name));
            if let Some(method) = method {
                md.line(format!("result = {var}.{method}()"));
            }
        } else {
            md.line(format!("result = {}()", export.name));
        }
        md.line("```");
        md.blank();
    }

    fn howto_section(&mut self, md: &mut Code) {
        let verb = pick(&mut self.rng, VERBS);
        let noun = pick(&mut self.rng, NOUNS);
        self.heading(md, 2, format!("How to {verb} a {noun}"));
        for step in 1..=self.rng.usize(2..=5) {
            let text = self.sentence();
            md.line(format!("{step}. {text}"));
        }
        md.blank();
        md.line("```bash");
        md.line(format!("# {verb} every {noun} of the segment"));
        md.line(format!(
            "python -m {} {verb} --{noun} {}",
            self.package,
            pick(&mut self.rng, NOUNS)
        ));
        md.line("```");
        md.blank();
    }

    fn config_section(&mut self, md: &mut Code) {
        let noun = pick(&mut self.rng, NOUNS);
        self.heading(md, 2, format!("Configuring the {noun}"));
        md.line("| Option | Default | Description |");
        md.line("| --- | --- | --- |");
        let limit = self.rng.usize(1..=100);
        let text = self.sentence();
        md.line(format!("| `{noun}_limit` | `{limit}` | {text} |"));
        let text = self.sentence();
        md.line(format!("| `{noun}_enabled` | `true` | {text} |"));
        md.blank();
        md.line("```toml");
        md.line(format!("[{}.{noun}]", self.package));
        md.line(format!("{noun}_limit = {limit}"));
        md.line(format!("{noun}_enabled = true"));
        md.line("```");
        md.blank();
    }
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/// Query candidates, by origin.
#[derive(Default)]
struct QueryPools {
    symbols: Vec<String>,
    headings: Vec<String>,
    words: Vec<String>,
    phrases: Vec<String>,
}

fn generated_query_pools(exports: &[Exported], docs: &DocGen<'_>) -> QueryPools {
    let mut pools = QueryPools::default();
    for export in exports {
        pools.symbols.push(export.name.clone());
        pools.symbols.extend(export.methods.iter().cloned());
        if export.is_class {
            pools.phrases.push(camel_words(&export.name).join(" "));
        }
        for part in export.name.split('_') {
            pools.words.push(part.to_string());
        }
    }
    for title in &docs.headings {
        pools.headings.extend(heading_words(title));
    }
    pools
        .words
        .extend(docs.words.iter().map(|word| word.to_string()));
    pools
}

/// Query candidates from a copied tree: a seeded sample of its files.
fn copied_query_pools(
    root: &Path,
    python: &[String],
    markdown: &[String],
    rng: &mut Rng,
) -> QueryPools {
    let mut pools = QueryPools::default();
    for rel in sample(rng, python, QUERY_SAMPLE_FILES) {
        let Ok(source) = fs::read(root.join(rel)) else {
            continue;
        };
        for symbol in trifecta::symbols::extract(&source).symbols {
            if symbol.name.starts_with("__") {
                continue;
            }
            pools
                .words
                .extend(symbol.name.split('_').map(str::to_string));
            pools.symbols.push(symbol.name);
        }
    }
    for rel in sample(rng, markdown, QUERY_SAMPLE_FILES) {
        let Ok(text) = fs::read_to_string(root.join(rel)) else {
            continue;
        };
        for title in markdown_headings(&text) {
            pools.headings.extend(heading_words(&title));
            if title.len() <= 60 {
                pools.phrases.push(title);
            }
        }
    }
    pools
}

fn sample<'a>(rng: &mut Rng, items: &'a [String], count: usize) -> Vec<&'a String> {
    let mut chosen: Vec<&String> = items.iter().collect();
    if chosen.len() > count {
        rng.shuffle(&mut chosen);
        chosen.truncate(count);
    }
    chosen
}

/// Titles of the ATX headings of a Markdown text, outside fenced code blocks.
fn markdown_headings(text: &str) -> Vec<String> {
    let mut titles = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
        if hashes == 0 || hashes > 6 {
            continue;
        }
        let rest = &trimmed[hashes..];
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            continue;
        }
        let title = rest.trim().trim_end_matches('#').trim();
        if !title.is_empty() {
            titles.push(title.to_string());
        }
    }
    titles
}

/// The words of a heading worth searching for (lowercase, 3+ characters, no stopword);
/// `PascalCase` tokens are split into their words.
fn heading_words(title: &str) -> Vec<String> {
    title
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .flat_map(token_words)
        .filter(|word| word.chars().count() >= 3 && !STOPWORDS.contains(&word.as_str()))
        .collect()
}

/// `CacheManager` -> `cache`, `manager`; any other token -> itself, lowercased.
fn token_words(token: &str) -> Vec<String> {
    let mixed_case =
        token.chars().skip(1).any(char::is_uppercase) && token.chars().any(char::is_lowercase);
    if mixed_case {
        camel_words(token)
    } else {
        vec![token.to_lowercase()]
    }
}

/// Picks the queries: round robin over the shuffled pools, at least [`MIN_QUERIES`].
fn choose_queries(pools: QueryPools, rng: &mut Rng) -> Vec<String> {
    let mut lists: Vec<Vec<String>> = [pools.symbols, pools.headings, pools.words, pools.phrases]
        .into_iter()
        .map(|pool| shuffled_candidates(rng, pool))
        .collect();
    let mut queries: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    while queries.len() < QUERY_TARGET && lists.iter().any(|list| !list.is_empty()) {
        for list in &mut lists {
            if let Some(query) = list.pop()
                && queries.len() < QUERY_TARGET
                && seen.insert(query.clone())
            {
                queries.push(query);
            }
        }
    }
    let base: Vec<String> = if queries.is_empty() {
        FALLBACK_QUERIES.iter().map(|q| q.to_string()).collect()
    } else {
        queries.clone()
    };
    let mut index = 0;
    while queries.len() < MIN_QUERIES {
        queries.push(base[index % base.len()].clone());
        index += 1;
    }
    queries
}

/// Valid, distinct candidates in a seeded order.
fn shuffled_candidates(rng: &mut Rng, pool: Vec<String>) -> Vec<String> {
    let distinct: BTreeSet<String> = pool
        .into_iter()
        .map(|query| query.trim().to_string())
        .filter(|query| query.chars().count() >= 2 && query.len() <= 200)
        .collect();
    let mut list: Vec<String> = distinct.into_iter().collect();
    rng.shuffle(&mut list);
    list
}

// ---------------------------------------------------------------------------------------------
// Files on disk
// ---------------------------------------------------------------------------------------------

/// Creates `dir` if needed; refuses a non-empty directory or a non-directory.
fn prepare_empty_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            bail!(
                "corpus path {} exists and is not a directory",
                dir.display()
            )
        }
        Ok(_) => {
            let mut entries = fs::read_dir(dir)
                .with_context(|| format!("cannot list corpus directory {}", dir.display()))?;
            if entries.next().is_some() {
                bail!(
                    "corpus directory {} is not empty: give a new or empty directory",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => fs::create_dir_all(dir)
            .with_context(|| format!("cannot create corpus directory {}", dir.display())),
        Err(err) => {
            Err(err).with_context(|| format!("cannot inspect corpus path {}", dir.display()))
        }
    }
}

/// Writes generated files under `root`; returns their total size.
fn write_files(root: &Path, files: &[(String, String)]) -> Result<u64> {
    let dirs: BTreeSet<&str> = files
        .iter()
        .filter_map(|(rel, _)| rel.rsplit_once('/').map(|(dir, _)| dir))
        .collect();
    for dir in dirs {
        let path = root.join(dir);
        fs::create_dir_all(&path)
            .with_context(|| format!("cannot create directory {}", path.display()))?;
    }
    let mut bytes = 0;
    for (rel, text) in files {
        let path = root.join(rel);
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        bytes += text.len() as u64;
    }
    Ok(bytes)
}

/// A file [`copy_corpus`] copies.
struct SourceFile {
    rel: String,
    path: PathBuf,
    python: bool,
}

/// The canonical source directory, or a clear error.
fn source_dir(src: &Path) -> Result<PathBuf> {
    let meta = fs::metadata(src)
        .with_context(|| format!("corpus directory {} does not exist", src.display()))?;
    if !meta.is_dir() {
        bail!("corpus path {} is not a directory", src.display());
    }
    src.canonicalize()
        .with_context(|| format!("cannot resolve corpus directory {}", src.display()))
}

/// The absolute, symlink-free path `dst` will have once created.
fn resolve_destination(dst: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(dst)
        .with_context(|| format!("cannot resolve destination {}", dst.display()))?;
    let mut existing = absolute.as_path();
    let mut missing = Vec::new();
    while !existing.exists() {
        let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
            break;
        };
        missing.push(name);
        existing = parent;
    }
    let mut resolved = existing
        .canonicalize()
        .with_context(|| format!("cannot resolve destination {}", dst.display()))?;
    for name in missing.into_iter().rev() {
        resolved.push(name);
    }
    Ok(resolved)
}

/// The `.py` and `.md` files of `src`, sorted by relative path.
fn list_sources(src: &Path) -> Result<Vec<SourceFile>> {
    let mut found = Vec::new();
    let mut stack = vec![(src.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if depth == 0 => {
                return Err(err)
                    .with_context(|| format!("cannot list corpus directory {}", dir.display()));
            }
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let rel = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            if file_type.is_dir() {
                if depth < MAX_COPY_DEPTH && !skip_dir(name) {
                    stack.push((entry.path(), rel, depth + 1));
                }
            } else if file_type.is_file() {
                let python = name.ends_with(".py");
                if !python && !name.ends_with(".md") {
                    continue;
                }
                let small = entry
                    .metadata()
                    .is_ok_and(|meta| meta.len() <= MAX_COPY_BYTES);
                if small {
                    found.push(SourceFile {
                        rel,
                        path: entry.path(),
                        python,
                    });
                }
            }
        }
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(found)
}

fn skip_dir(name: &str) -> bool {
    name.starts_with('.') || SKIPPED_DIRS.contains(&name)
}

/// Copies the files under `root`; returns their total size.
fn copy_files(root: &Path, files: &[SourceFile]) -> Result<u64> {
    let mut bytes = 0;
    for file in files {
        let content =
            fs::read(&file.path).with_context(|| format!("cannot read {}", file.path.display()))?;
        let target = root.join(&file.rel);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create directory {}", parent.display()))?;
        }
        fs::write(&target, &content)
            .with_context(|| format!("cannot write {}", target.display()))?;
        bytes += content.len() as u64;
    }
    Ok(bytes)
}

/// `root/rel` for a relative `.py` path that stays inside `root`.
fn file_in_corpus(root: &Path, rel: &str) -> Result<PathBuf> {
    let relative = Path::new(rel);
    let inside = relative
        .components()
        .all(|component| matches!(component, Component::Normal(_)));
    if rel.is_empty() || !inside {
        bail!("{rel:?} is not a relative path inside the corpus");
    }
    if !rel.ends_with(".py") {
        bail!("{rel:?} is not a Python file: only .py files are mutated");
    }
    Ok(root.join(relative))
}

/// Replaces `path` by `bytes` through a temporary file in the same directory and a rename,
/// keeping the original file's permissions.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".corpus-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    temp.write_all(bytes)
        .context("cannot write the temporary file")?;
    if let Ok(meta) = fs::metadata(path) {
        temp.as_file()
            .set_permissions(meta.permissions())
            .context("cannot copy the file permissions")?;
    }
    temp.persist(path)
        .map_err(|err| err.error)
        .with_context(|| format!("cannot rename the temporary file over {}", path.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Mutation
// ---------------------------------------------------------------------------------------------

/// The edits [`mutate_file`] chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    RenameFunction,
    AddMethod,
    AddFunction,
    ChangeLine,
}

const EDITS: [Edit; 4] = [
    Edit::RenameFunction,
    Edit::AddMethod,
    Edit::AddFunction,
    Edit::ChangeLine,
];

/// The source after one edit: a random applicable edit that adds no parse error, else a new
/// function appended at the end (always valid for a valid file).
fn mutated_source(original: &[u8], rng: &mut Rng) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(original) else {
        return with_function_appended(original, rng);
    };
    let start = rng.usize(..EDITS.len());
    for step in 0..EDITS.len() {
        let edit = EDITS[(start + step) % EDITS.len()];
        let Some(candidate) = apply_edit(edit, text, rng) else {
            continue;
        };
        if candidate.as_bytes() != original && keeps_validity(original, candidate.as_bytes()) {
            return candidate.into_bytes();
        }
    }
    with_function_appended(original, rng)
}

fn apply_edit(edit: Edit, text: &str, rng: &mut Rng) -> Option<String> {
    match edit {
        Edit::RenameFunction => rename_function(text, rng),
        Edit::AddMethod => add_method(text, rng),
        Edit::AddFunction => String::from_utf8(with_function_appended(text.as_bytes(), rng)).ok(),
        Edit::ChangeLine => change_number(text, rng),
    }
}

/// True when the edit added no parse error.
fn keeps_validity(original: &[u8], candidate: &[u8]) -> bool {
    let after = trifecta::symbols::extract(candidate).parse_errors;
    after == 0 || after <= trifecta::symbols::extract(original).parse_errors
}

fn newline_of(text: &[u8]) -> &'static str {
    if text.windows(2).any(|pair| pair == b"\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

fn leading_whitespace(line: &str) -> &str {
    let content = line.trim_start_matches([' ', '\t']);
    &line[..line.len() - content.len()]
}

fn strip_newline(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

fn identifier_len(text: &str) -> usize {
    let mut len = 0;
    for (index, ch) in text.char_indices() {
        let ok = ch == '_' || ch.is_ascii_alphabetic() || (index > 0 && ch.is_ascii_digit());
        if !ok {
            break;
        }
        len = index + ch.len_utf8();
    }
    len
}

/// Appends a small top-level function.
fn with_function_appended(source: &[u8], rng: &mut Rng) -> Vec<u8> {
    let nl = newline_of(source);
    let name = function_name(rng);
    let param = pick(rng, NOUNS);
    let factor = rng.usize(2..=9);
    let mut out = source.to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") && !out.ends_with(b"\r") {
        out.extend_from_slice(nl.as_bytes());
    }
    let lines = [
        String::new(),
        String::new(),
        format!("def {name}({param}_count: int = 1) -> int:"),
        format!("{INDENT}# Added while the soak runs."),
        format!("{INDENT}scaled = {param}_count * {factor}"),
        format!("{INDENT}return scaled"),
    ];
    for line in lines {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(nl.as_bytes());
    }
    out
}

/// The byte range of the name in a `def NAME(` or `async def NAME(` line.
fn def_name_span(line: &str) -> Option<Range<usize>> {
    let mut pos = leading_whitespace(line).len();
    if let Some(rest) = line[pos..].strip_prefix("async ") {
        pos = line.len() - rest.trim_start_matches(' ').len();
    }
    let rest = line[pos..].strip_prefix("def ")?;
    pos = line.len() - rest.trim_start_matches(' ').len();
    let len = identifier_len(&line[pos..]);
    let end = pos + len;
    let opens = line[end..].trim_start().starts_with('(');
    (len > 0 && opens).then_some(pos..end)
}

/// A new name for a function: another verb, or one more word.
fn renamed(old: &str, rng: &mut Rng) -> String {
    let core = old.trim_start_matches('_');
    let prefix = &old[..old.len() - core.len()];
    let core = match core.split_once('_') {
        Some((head, tail)) if !tail.is_empty() => {
            let mut verb = pick(rng, VERBS);
            while verb == head {
                verb = pick(rng, VERBS);
            }
            format!("{verb}_{tail}")
        }
        _ if core.is_empty() => pick(rng, NOUNS).to_string(),
        _ => format!("{core}_{}", pick(rng, NOUNS)),
    };
    format!("{prefix}{core}")
}

fn rename_function(text: &str, rng: &mut Rng) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let candidates: Vec<(usize, Range<usize>)> = lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| def_name_span(line).map(|span| (index, span)))
        .filter(|(index, span)| {
            let name = &lines[*index][span.clone()];
            !(name.starts_with("__") && name.ends_with("__"))
        })
        .collect();
    let (index, span) = rng.choice(&candidates)?.clone();
    let line = lines[index];
    let new_line = format!(
        "{}{}{}",
        &line[..span.start],
        renamed(&line[span.clone()], rng),
        &line[span.end..]
    );
    Some(replace_line(&lines, index, &new_line))
}

fn replace_line(lines: &[&str], index: usize, new_line: &str) -> String {
    let mut out = String::new();
    for (at, line) in lines.iter().enumerate() {
        out.push_str(if at == index { new_line } else { line });
    }
    out
}

fn insert_lines(lines: &[&str], index: usize, inserted: &str) -> String {
    let mut out = String::new();
    for (at, line) in lines.iter().enumerate() {
        if at == index {
            out.push_str(inserted);
        }
        out.push_str(line);
    }
    out
}

/// Whether a line holds code (not blank, not only a comment).
fn is_code(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

/// A one-line `class X(...):` header with its body on the next lines.
fn is_class_header(line: &str) -> bool {
    let content = strip_newline(line).trim();
    content.starts_with("class ") && content.ends_with(':') && !content.contains('#')
}

/// Where to insert a method in the class whose header is at `header`, and the indentation of
/// its members and of one level: before the first method of the body, else right after the
/// header.
fn method_slot(lines: &[&str], header: usize) -> Option<(usize, String, String)> {
    let class_indent = leading_whitespace(lines[header]);
    let first = (header + 1..lines.len()).find(|&at| is_code(lines[at]))?;
    let member = leading_whitespace(lines[first]);
    if member.len() <= class_indent.len() || !member.starts_with(class_indent) {
        return None;
    }
    let unit = member[class_indent.len()..].to_string();
    let mut slot = header + 1;
    for (at, line) in lines.iter().enumerate().skip(first) {
        if !is_code(line) {
            continue;
        }
        let indent = leading_whitespace(line);
        if indent.len() < member.len() {
            break;
        }
        let content = &line[indent.len()..];
        let starts_member = content.starts_with("def ")
            || content.starts_with("async def ")
            || (content.starts_with('@') && identifier_len(&content[1..]) > 0);
        if indent == member && starts_member {
            slot = at;
            break;
        }
    }
    Some((slot, member.to_string(), unit))
}

fn add_method(text: &str, rng: &mut Rng) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let headers: Vec<usize> = (0..lines.len())
        .filter(|&at| is_class_header(lines[at]))
        .collect();
    let slots: Vec<(usize, String, String)> = headers
        .iter()
        .filter_map(|&header| method_slot(&lines, header))
        .collect();
    let (slot, member, unit) = rng.choice(slots)?;
    let nl = newline_of(text.as_bytes());
    let name = function_name(rng);
    let noun = pick(rng, NOUNS);
    let value = rng.usize(1..=999);
    let body = format!("{member}{unit}");
    let method = [
        format!("{member}def {name}(self) -> int:"),
        format!("{body}{noun}_total = {value}"),
        format!("{body}return {noun}_total"),
        String::new(),
    ];
    let mut inserted = String::new();
    for line in method {
        inserted.push_str(&line);
        inserted.push_str(nl);
    }
    Some(insert_lines(&lines, slot, &inserted))
}

/// The byte range of a decimal integer ending an assignment line (`limit = 10`).
fn number_span(line: &str) -> Option<Range<usize>> {
    let content = strip_newline(line).trim_end();
    let start = content.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let digits = &content[start..];
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) || digits.len() > 9 {
        return None;
    }
    let before = &content[..start];
    let assigned = before.trim_end().ends_with('=') && before.ends_with([' ', '=']);
    let has_target = !before.trim_end().trim_end_matches('=').trim().is_empty();
    (assigned && has_target).then_some(start..content.len())
}

fn change_number(text: &str, rng: &mut Rng) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let candidates: Vec<(usize, Range<usize>)> = lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| number_span(line).map(|span| (index, span)))
        .collect();
    let (index, span) = rng.choice(&candidates)?.clone();
    let line = lines[index];
    let old = &line[span.clone()];
    let mut value = rng.usize(1..=999).to_string();
    while value == old {
        value = rng.usize(1..=999).to_string();
    }
    let new_line = format!("{}{value}{}", &line[..span.start], &line[span.end..]);
    Some(replace_line(&lines, index, &new_line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::process::Command;
    use trifecta::symbols::extract;

    fn spec(python_files: usize, markdown_files: usize, seed: u64) -> CorpusSpec {
        CorpusSpec {
            python_files,
            markdown_files,
            seed,
        }
    }

    /// Every file under `root`, by relative path.
    fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                    files.insert(rel.replace('\\', "/"), fs::read(&path).unwrap());
                }
            }
        }
        files
    }

    fn generated(
        python_files: usize,
        markdown_files: usize,
        seed: u64,
    ) -> (tempfile::TempDir, Corpus) {
        let dir = tempfile::tempdir().unwrap();
        let corpus = generate(dir.path(), &spec(python_files, markdown_files, seed)).unwrap();
        (dir, corpus)
    }

    fn read(corpus: &Corpus, rel: &str) -> String {
        fs::read_to_string(corpus.path_of(rel)).unwrap()
    }

    /// `def`/`class` lines inside a function body, found by indentation (the generator writes
    /// no multi-line string less indented than its code).
    fn names_defined_inside_functions(source: &str) -> Vec<String> {
        let mut open: Vec<(usize, bool)> = Vec::new();
        let mut nested = Vec::new();
        for line in source.lines() {
            let content = line.trim_start();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - content.len();
            while open.last().is_some_and(|(level, _)| *level >= indent) {
                open.pop();
            }
            let definition = content
                .strip_prefix("async ")
                .unwrap_or(content)
                .strip_prefix("def ")
                .map(|rest| (rest, true))
                .or_else(|| content.strip_prefix("class ").map(|rest| (rest, false)));
            if let Some((rest, is_def)) = definition {
                let name = &rest[..identifier_len(rest)];
                if open.iter().any(|(_, inside_def)| *inside_def) {
                    nested.push(name.to_string());
                }
                open.push((indent, is_def));
            }
        }
        nested
    }

    #[test]
    fn same_seed_gives_a_byte_identical_tree() {
        let (first_dir, first) = generated(120, 12, 7);
        let (second_dir, second) = generated(120, 12, 7);
        assert_eq!(snapshot(first_dir.path()), snapshot(second_dir.path()));
        assert_eq!(first.python, second.python);
        assert_eq!(first.markdown, second.markdown);
        assert_eq!(first.queries, second.queries);
        assert_eq!(first.bytes, second.bytes);
    }

    #[test]
    fn another_seed_gives_another_tree() {
        let (first_dir, _) = generated(60, 6, 7);
        let (second_dir, _) = generated(60, 6, 8);
        assert_ne!(snapshot(first_dir.path()), snapshot(second_dir.path()));
    }

    #[test]
    fn counts_paths_and_bytes_match_the_spec() {
        let (dir, corpus) = generated(150, 20, 3);
        let files = snapshot(dir.path());
        assert_eq!(corpus.python.len(), 150);
        assert_eq!(corpus.markdown.len(), 20);
        let on_disk_py: Vec<&String> = files.keys().filter(|rel| rel.ends_with(".py")).collect();
        let on_disk_md: Vec<&String> = files.keys().filter(|rel| rel.ends_with(".md")).collect();
        assert_eq!(on_disk_py.len(), 150);
        assert_eq!(on_disk_md.len(), 20);
        assert_eq!(files.len(), 170, "nothing but .py and .md files");
        let mut sorted_python = corpus.python.clone();
        sorted_python.sort();
        assert_eq!(corpus.python, sorted_python);
        assert!(corpus.markdown.iter().all(|rel| rel.starts_with("docs/")));
        assert!(corpus.markdown.contains(&"docs/index.md".to_string()));
        let total: u64 = files.values().map(|bytes| bytes.len() as u64).sum();
        assert_eq!(corpus.bytes, total);
        assert_eq!(corpus.source, GENERATED_SOURCE);
        assert_eq!(corpus.root, dir.path().canonicalize().unwrap());
        // Every package directory has an __init__.py, and packages nest.
        for rel in &corpus.python {
            if let Some((dir, _)) = rel.rsplit_once('/') {
                let init = format!("{dir}/__init__.py");
                assert!(corpus.python.contains(&init), "{rel} has no {init}");
            }
        }
        let deepest = corpus
            .python
            .iter()
            .map(|rel| rel.matches('/').count())
            .max();
        assert!(deepest.unwrap_or(0) >= 2, "packages are nested");
    }

    #[test]
    fn every_generated_python_file_parses_and_defines_symbols() {
        let (_dir, corpus) = generated(200, 0, 11);
        let mut qualname_depths = BTreeSet::new();
        for rel in &corpus.python {
            let source = read(&corpus, rel);
            let table = extract(source.as_bytes());
            assert_eq!(table.parse_errors, 0, "{rel} does not parse:\n{source}");
            assert!(!table.symbols.is_empty(), "{rel} has no symbol");
            for symbol in &table.symbols {
                qualname_depths.insert(symbol.qualname.matches('.').count());
            }
        }
        assert!(
            qualname_depths.contains(&3),
            "classes nest 3 levels: Outer.Inner.Deep.method"
        );
    }

    #[test]
    fn generated_code_has_the_realistic_constructs() {
        let (_dir, corpus) = generated(200, 0, 5);
        let all: String = corpus.python.iter().map(|rel| read(&corpus, rel)).collect();
        for construct in [
            "@staticmethod",
            "@classmethod",
            "@property",
            ".setter",
            "@dataclass",
            "async def ",
            "await ",
            "if TYPE_CHECKING:",
            "except ImportError:",
            "match ",
            "case _:",
            "@retry_on(\n",
            "@register_handler(\n",
            "@log_duration(\n",
            "nonlocal ",
            "lambda ",
            " := ",
            "(Protocol):",
            "# ",
            "-> Optional[",
            "\n) -> ",
            "yield from ",
        ] {
            assert!(all.contains(construct), "no {construct:?} in the corpus");
        }
    }

    #[test]
    fn long_and_short_files_exist() {
        let (_dir, corpus) = generated(200, 0, 9);
        let lengths: Vec<usize> = corpus
            .python
            .iter()
            .map(|rel| read(&corpus, rel).lines().count())
            .collect();
        let long = lengths
            .iter()
            .filter(|&&n| (1000..=3000).contains(&n))
            .count();
        let short = lengths.iter().filter(|&&n| (10..=50).contains(&n)).count();
        assert_eq!(long, 10, "5 % of 200 files are long: {lengths:?}");
        assert!(short >= 80, "most files are short: {lengths:?}");
        assert!(
            lengths.iter().all(|&n| (5..=3000).contains(&n)),
            "{lengths:?}"
        );
    }

    #[test]
    fn definitions_inside_functions_are_not_symbols() {
        let (_dir, corpus) = generated(150, 0, 13);
        let mut checked = 0;
        for rel in &corpus.python {
            let source = read(&corpus, rel);
            let nested = names_defined_inside_functions(&source);
            let table = extract(source.as_bytes());
            let names: HashSet<&str> = table.symbols.iter().map(|s| s.name.as_str()).collect();
            for name in &nested {
                assert!(
                    !names.contains(name.as_str()),
                    "{rel}: nested {name} is a symbol"
                );
            }
            checked += nested.len();
        }
        assert!(
            checked >= 20,
            "the corpus defines functions in functions ({checked})"
        );
    }

    #[test]
    fn queries_are_many_and_hit_the_corpus() {
        let (_dir, corpus) = generated(100, 10, 21);
        assert!(
            corpus.queries.len() >= MIN_QUERIES,
            "{}",
            corpus.queries.len()
        );
        let text: String = corpus
            .python
            .iter()
            .chain(&corpus.markdown)
            .map(|rel| read(&corpus, rel).to_lowercase())
            .collect();
        for query in &corpus.queries {
            assert!(query.chars().count() >= 2, "{query:?}");
            for term in query.to_lowercase().split_whitespace() {
                assert!(text.contains(term), "query term {term:?} found nowhere");
            }
        }
        let distinct: HashSet<&String> = corpus.queries.iter().collect();
        assert_eq!(distinct.len(), corpus.queries.len());
    }

    #[test]
    fn markdown_has_headings_lists_fences_and_symbols() {
        let (_dir, corpus) = generated(60, 30, 4);
        let all: String = corpus
            .markdown
            .iter()
            .map(|rel| read(&corpus, rel))
            .collect();
        for marker in [
            "\n## ",
            "\n### ",
            "\n- ",
            "\n1. ",
            "```python\n",
            "```bash\n",
        ] {
            assert!(all.contains(marker), "no {marker:?} in the documents");
        }
        for rel in &corpus.markdown {
            assert!(
                read(&corpus, rel).starts_with("# "),
                "{rel} starts with a title"
            );
        }
        assert!(
            all.contains("` is defined in `"),
            "some headings name generated symbols"
        );
    }

    #[test]
    fn generation_refuses_a_non_empty_directory_and_zero_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep.txt"), "x").unwrap();
        let err = generate(dir.path(), &spec(10, 1, 1)).unwrap_err();
        assert!(format!("{err:#}").contains("not empty"), "{err:#}");
        let empty = tempfile::tempdir().unwrap();
        assert!(generate(empty.path(), &spec(0, 1, 1)).is_err());
        let nested = empty.path().join("a/b");
        let corpus = generate(&nested, &spec(1, 0, 1)).unwrap();
        assert_eq!(corpus.python.len(), 1);
        assert!(corpus.markdown.is_empty());
        assert!(corpus.queries.len() >= MIN_QUERIES);
    }

    #[test]
    fn manifest_round_trips() {
        let (dir, corpus) = generated(20, 3, 2);
        let manifest = dir.path().join("corpus.json");
        corpus.write_manifest(&manifest).unwrap();
        assert_eq!(Corpus::read_manifest(&manifest).unwrap(), corpus);
        let err = Corpus::read_manifest(&dir.path().join("missing.json")).unwrap_err();
        assert!(format!("{err:#}").contains("missing.json"));
    }

    #[test]
    fn mutations_keep_generated_files_valid_and_change_them() {
        let (_dir, corpus) = generated(80, 0, 17);
        let mut rng = Rng::with_seed(99);
        for rel in corpus.python.iter().step_by(3) {
            for _ in 0..6 {
                let before = read(&corpus, rel);
                mutate_file(&corpus.root, rel, &mut rng).unwrap();
                let after = read(&corpus, rel);
                assert_ne!(before, after, "{rel} unchanged");
                let table = extract(after.as_bytes());
                assert_eq!(
                    table.parse_errors, 0,
                    "{rel} broken by a mutation:\n{after}"
                );
            }
        }
        let leftovers: Vec<String> = snapshot(&corpus.root)
            .into_keys()
            .filter(|rel| rel.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    const SAMPLE: &str = "\
import os


class SegmentStore:
    \"\"\"Stores segments.\"\"\"

    LIMIT = 10

    @property
    def size(self) -> int:
        return self.LIMIT

    async def load_segment(self, path: str) -> bytes:
        return b''


def parse_config(text: str) -> dict:
    count = 3
    return {}
";

    #[test]
    fn each_edit_kind_applies_and_stays_valid() {
        let mut rng = Rng::with_seed(1);
        for edit in EDITS {
            for _ in 0..20 {
                let edited = apply_edit(edit, SAMPLE, &mut rng).expect("edit applies");
                assert_ne!(edited, SAMPLE, "{edit:?}");
                assert_eq!(
                    extract(edited.as_bytes()).parse_errors,
                    0,
                    "{edit:?}:\n{edited}"
                );
            }
        }
        let renamed = rename_function(SAMPLE, &mut rng).unwrap();
        let before: Vec<String> = extract(SAMPLE.as_bytes())
            .symbols
            .into_iter()
            .map(|s| s.name)
            .collect();
        let after: Vec<String> = extract(renamed.as_bytes())
            .symbols
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(before.len(), after.len());
        assert_ne!(before, after);
        let with_method = add_method(SAMPLE, &mut rng).unwrap();
        let methods = |text: &str| {
            extract(text.as_bytes())
                .symbols
                .iter()
                .filter(|s| s.qualname.starts_with("SegmentStore."))
                .count()
        };
        assert_eq!(methods(&with_method), methods(SAMPLE) + 1);
        let changed = change_number(SAMPLE, &mut rng).unwrap();
        assert_eq!(changed.lines().count(), SAMPLE.lines().count());
    }

    #[test]
    fn edits_respect_crlf_tabs_and_files_without_candidates() {
        let mut rng = Rng::with_seed(5);
        let crlf = SAMPLE.replace('\n', "\r\n");
        let tabs = "class A:\n\tdef f(self):\n\t\treturn 1\n";
        let plain = "VALUE = 'x'";
        for source in [crlf.as_str(), tabs, plain, ""] {
            for _ in 0..20 {
                let edited = mutated_source(source.as_bytes(), &mut rng);
                assert_ne!(edited, source.as_bytes());
                assert_eq!(
                    extract(&edited).parse_errors,
                    0,
                    "{}",
                    String::from_utf8_lossy(&edited)
                );
            }
        }
        let edited = mutated_source(&crlf.into_bytes(), &mut rng);
        let text = String::from_utf8(edited).unwrap();
        assert_eq!(
            text.matches('\n').count(),
            text.matches("\r\n").count(),
            "CRLF kept"
        );
        let latin1 = b"# caf\xe9\nx = 1\n";
        assert!(mutated_source(latin1, &mut rng).starts_with(latin1));
    }

    #[test]
    fn line_helpers_find_what_they_should() {
        assert_eq!(def_name_span("    async def  load(x):\n"), Some(15..19));
        assert_eq!(def_name_span("def f (x):"), Some(4..5));
        assert_eq!(def_name_span("define(x)"), None);
        assert_eq!(def_name_span("    # def f(x):"), None);
        assert_eq!(number_span("    limit = 10\n"), Some(12..14));
        assert_eq!(number_span("x=0"), Some(2..3));
        for line in [
            "x = 0x10",
            "x = 1_000",
            "x = 1.5",
            "x = -3",
            "x = y + 2",
            "x = 007",
            "f(3)",
        ] {
            assert_eq!(number_span(line), None, "{line}");
        }
        assert_eq!(
            renamed("__private", &mut Rng::with_seed(1)).get(..2),
            Some("__")
        );
        assert_ne!(
            renamed("load_segment", &mut Rng::with_seed(1)),
            "load_segment"
        );
    }

    #[test]
    fn mutate_file_refuses_paths_outside_the_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng::with_seed(1);
        for rel in ["../x.py", "/etc/x.py", "", "a/../../x.py", "notes.md"] {
            assert!(mutate_file(dir.path(), rel, &mut rng).is_err(), "{rel}");
        }
        assert!(mutate_file(dir.path(), "missing.py", &mut rng).is_err());
    }

    #[test]
    fn mutate_file_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.py");
        fs::write(&path, SAMPLE).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        mutate_file(dir.path(), "m.py", &mut Rng::with_seed(3)).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    /// A small real-looking tree with things copy_corpus must skip.
    fn source_tree() -> tempfile::TempDir {
        let src = tempfile::tempdir().unwrap();
        let root = src.path();
        for dir in [
            "pkg/sub",
            ".git",
            ".venv/lib",
            "__pycache__",
            "node_modules/x",
            "docs",
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        fs::write(root.join("pkg/__init__.py"), "").unwrap();
        fs::write(root.join("pkg/sub/store.py"), SAMPLE).unwrap();
        fs::write(root.join("setup.py"), "def configure_build():\n    pass\n").unwrap();
        fs::write(
            root.join("docs/guide.md"),
            "# Storage guide\n\n## Segment eviction\n",
        )
        .unwrap();
        fs::write(root.join("README.md"), "# Project\n").unwrap();
        fs::write(root.join("notes.txt"), "not copied").unwrap();
        fs::write(root.join(".git/hook.py"), "x = 1\n").unwrap();
        fs::write(root.join(".venv/lib/site.py"), "x = 1\n").unwrap();
        fs::write(root.join("__pycache__/cached.py"), "x = 1\n").unwrap();
        fs::write(root.join("node_modules/x/gen.py"), "x = 1\n").unwrap();
        let big = fs::File::create(root.join("big.py")).unwrap();
        big.set_len(MAX_COPY_BYTES + 1).unwrap();
        std::os::unix::fs::symlink(root.join("setup.py"), root.join("link.py")).unwrap();
        src
    }

    #[test]
    fn copy_corpus_copies_python_and_markdown_only() {
        let src = source_tree();
        let before = snapshot(src.path());
        let work = tempfile::tempdir().unwrap();
        let dst = work.path().join("segment");
        let corpus = copy_corpus(src.path(), &dst, 42).unwrap();
        assert_eq!(
            corpus.python,
            ["pkg/__init__.py", "pkg/sub/store.py", "setup.py"]
        );
        assert_eq!(corpus.markdown, ["README.md", "docs/guide.md"]);
        let copied = snapshot(&dst);
        assert_eq!(copied.len(), 5);
        assert_eq!(copied["pkg/sub/store.py"], SAMPLE.as_bytes());
        assert_eq!(
            corpus.bytes,
            copied.values().map(|b| b.len() as u64).sum::<u64>()
        );
        assert_eq!(
            corpus.source,
            src.path().canonicalize().unwrap().display().to_string()
        );
        assert_eq!(snapshot(src.path()), before, "the source is untouched");
        assert!(corpus.queries.len() >= MIN_QUERIES);
        for expected in [
            "SegmentStore",
            "parse_config",
            "configure_build",
            "eviction",
        ] {
            assert!(
                corpus.queries.iter().any(|q| q == expected),
                "{expected} in {:?}",
                corpus.queries
            );
        }
        let again = copy_corpus(src.path(), &work.path().join("again"), 42).unwrap();
        assert_eq!(again.queries, corpus.queries, "seeded");
    }

    #[test]
    fn copy_corpus_errors_clearly() {
        let work = tempfile::tempdir().unwrap();
        let missing = work.path().join("missing");
        let err = copy_corpus(&missing, &work.path().join("a"), 1).unwrap_err();
        assert!(format!("{err:#}").contains("does not exist"), "{err:#}");
        let file = work.path().join("file.py");
        fs::write(&file, "x = 1\n").unwrap();
        let err = copy_corpus(&file, &work.path().join("b"), 1).unwrap_err();
        assert!(format!("{err:#}").contains("not a directory"), "{err:#}");
        let docs_only = work.path().join("docs_only");
        fs::create_dir_all(&docs_only).unwrap();
        fs::write(docs_only.join("a.md"), "# A\n").unwrap();
        let err = copy_corpus(&docs_only, &work.path().join("c"), 1).unwrap_err();
        assert!(format!("{err:#}").contains("no .py file"), "{err:#}");
        assert!(!work.path().join("c").exists(), "nothing created on error");
        let src = source_tree();
        let err = copy_corpus(src.path(), &src.path().join("copy"), 1).unwrap_err();
        assert!(format!("{err:#}").contains("inside the source"), "{err:#}");
        assert!(!src.path().join("copy").exists());
    }

    /// Checks files with CPython's own parser, when python3 is installed.
    fn python_rejects(paths: &[PathBuf]) -> Option<String> {
        let script = "import ast, sys\nfor path in sys.argv[1:]:\n    with open(path, encoding='utf-8') as f:\n        ast.parse(f.read(), path)\n";
        let output = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(paths)
            .output()
            .ok()?;
        (!output.status.success()).then(|| String::from_utf8_lossy(&output.stderr).into_owned())
    }

    #[test]
    fn python3_accepts_generated_and_mutated_files() {
        if Command::new("python3").arg("--version").output().is_err() {
            eprintln!("python3 not found: skipping the CPython check");
            return;
        }
        let (_dir, corpus) = generated(120, 0, 23);
        let paths: Vec<PathBuf> = corpus
            .python
            .iter()
            .map(|rel| corpus.path_of(rel))
            .collect();
        if let Some(error) = python_rejects(&paths) {
            panic!("CPython rejects a generated file: {error}");
        }
        let mut rng = Rng::with_seed(8);
        for rel in &corpus.python {
            for _ in 0..3 {
                mutate_file(&corpus.root, rel, &mut rng).unwrap();
            }
        }
        if let Some(error) = python_rejects(&paths) {
            panic!("CPython rejects a mutated file: {error}");
        }
    }
}
