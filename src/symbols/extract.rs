//! Walks a tree-sitter-python syntax tree and collects the `def` and `class`
//! statements of a file (DESIGN.md section 5).
//!
//! Every walk uses an explicit stack or a [`TreeCursor`], never recursion, so
//! deeply nested input cannot overflow the thread's stack.

use std::borrow::Cow;
use std::cell::RefCell;

use tree_sitter::{Node, Parser, Point, TreeCursor};

use super::{Symbol, SymbolKind, SymbolTable};

/// The largest input tree-sitter can address (its byte offsets are `u32`).
const MAX_SOURCE_BYTES: usize = u32::MAX as usize;

/// The UTF-8 byte order mark CPython skips at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

thread_local! {
    /// One parser per thread: creating a parser is costly, reusing it is not.
    static PARSER: RefCell<Option<Parser>> = RefCell::new(new_parser());
}

/// Extracts the `def` and `class` symbols of a Python source file.
///
/// Never panics: any byte sequence yields a table, with `parse_errors > 0`
/// when tree-sitter had to recover from syntax errors.
pub fn extract(source: &[u8]) -> SymbolTable {
    let text = prepare(source);
    let Some(tree) = parse(&text) else {
        return unparsable();
    };
    let root = tree.root_node();
    SymbolTable {
        symbols: collect_symbols(root, &text),
        parse_errors: count_errors(root),
    }
}

/// The table for input the parser could not handle at all.
fn unparsable() -> SymbolTable {
    SymbolTable {
        symbols: Vec::new(),
        parse_errors: 1,
    }
}

fn new_parser() -> Option<Parser> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()?;
    Some(parser)
}

fn parse(text: &[u8]) -> Option<tree_sitter::Tree> {
    if text.len() > MAX_SOURCE_BYTES {
        return None;
    }
    PARSER.with_borrow_mut(|parser| parser.as_mut()?.parse(text, None))
}

/// Strips a leading BOM and turns every lone `\r` into `\n`.
///
/// CPython counts `\r\n`, `\r` and `\n` as one line break each; tree-sitter
/// counts only `\n`. The replacement keeps byte offsets, so tree-sitter rows
/// become CPython line numbers.
fn prepare(source: &[u8]) -> Cow<'_, [u8]> {
    let source = source.strip_prefix(BOM).unwrap_or(source);
    if !source.contains(&b'\r') {
        return Cow::Borrowed(source);
    }
    let mut text = source.to_vec();
    for i in 0..text.len() {
        if text[i] == b'\r' && text.get(i + 1) != Some(&b'\n') {
            text[i] = b'\n';
        }
    }
    Cow::Owned(text)
}

/// A node waiting to be visited, with the class whose body it is in.
struct Pending<'tree> {
    node: Node<'tree>,
    /// Index in the found list of the nearest enclosing class, if any.
    class: Option<usize>,
}

/// Collects the definitions reachable from the module body and class
/// bodies, in source order.
fn collect_symbols(root: Node<'_>, source: &[u8]) -> Vec<Symbol> {
    let mut cursor = root.walk();
    let mut found: Vec<(usize, Symbol)> = Vec::new();
    let mut stack = vec![Pending {
        node: root,
        class: None,
    }];
    while let Some(Pending { node, class }) = stack.pop() {
        match node.kind() {
            "function_definition" => {
                if let Some(symbol) = definition(node, class, &found, source, &mut cursor) {
                    found.push((node.start_byte(), symbol));
                }
            }
            "class_definition" => {
                if let Some(symbol) = definition(node, class, &found, source, &mut cursor) {
                    let body = node.child_by_field_name("body");
                    found.push((node.start_byte(), symbol));
                    let class = Some(found.len() - 1);
                    stack.extend(body.map(|node| Pending { node, class }));
                }
            }
            kind if holds_statements(kind) => {
                push_children(node, class, &mut stack, &mut cursor);
            }
            _ => {}
        }
    }
    found.sort_by_key(|(start, _)| *start);
    found.into_iter().map(|(_, symbol)| symbol).collect()
}

/// Whether a node can contain `def` or `class` statements that belong to
/// the enclosing module or class body.
fn holds_statements(kind: &str) -> bool {
    matches!(
        kind,
        "module"
            | "block"
            | "if_statement"
            | "elif_clause"
            | "else_clause"
            | "try_statement"
            | "except_clause"
            | "finally_clause"
            | "with_statement"
            | "for_statement"
            | "while_statement"
            | "match_statement"
            | "case_clause"
            | "decorated_definition"
            | "ERROR"
    )
}

fn push_children<'tree>(
    node: Node<'tree>,
    class: Option<usize>,
    stack: &mut Vec<Pending<'tree>>,
    cursor: &mut TreeCursor<'tree>,
) {
    cursor.reset(node);
    if !cursor.goto_first_child() {
        return;
    }
    loop {
        stack.push(Pending {
            node: cursor.node(),
            class,
        });
        if !cursor.goto_next_sibling() {
            return;
        }
    }
}

/// Builds the symbol of a `def` or `class` node; `None` when it has no name.
fn definition<'tree>(
    node: Node<'tree>,
    class: Option<usize>,
    found: &[(usize, Symbol)],
    source: &[u8],
    cursor: &mut TreeCursor<'tree>,
) -> Option<Symbol> {
    let name_node = node.child_by_field_name("name")?;
    let name = String::from_utf8_lossy(&source[name_node.byte_range()]).into_owned();
    if name.is_empty() {
        return None;
    }
    let kind = match (node.kind(), class) {
        ("class_definition", _) => SymbolKind::Class,
        (_, Some(_)) => SymbolKind::Method,
        (_, None) => SymbolKind::Function,
    };
    let qualname = match class {
        Some(index) => format!("{}.{name}", found[index].1.qualname),
        None => name.clone(),
    };
    Some(Symbol {
        kind,
        name,
        qualname,
        line: line_number(node.start_position().row),
        end_line: end_line(node, cursor),
    })
}

/// The CPython `end_lineno` of a definition: the last line of its last
/// statement, reached through nested blocks, skipping trailing comments.
fn end_line<'tree>(definition: Node<'tree>, cursor: &mut TreeCursor<'tree>) -> u32 {
    let mut node = definition;
    while is_compound(node.kind()) {
        match last_statement_child(node, cursor) {
            Some(child) => node = child,
            None => break,
        }
    }
    line_number(last_row(node))
}

/// Nodes whose end is the end of their last child statement or clause.
fn is_compound(kind: &str) -> bool {
    match kind {
        "module" | "ERROR" => false,
        "function_definition" | "class_definition" => true,
        _ => holds_statements(kind),
    }
}

/// The last named child that is not a comment or line continuation.
fn last_statement_child<'tree>(
    node: Node<'tree>,
    cursor: &mut TreeCursor<'tree>,
) -> Option<Node<'tree>> {
    cursor.reset(node);
    if !cursor.goto_first_child() {
        return None;
    }
    let mut last = None;
    loop {
        let child = cursor.node();
        if child.is_named() && !child.is_extra() {
            last = Some(child);
        }
        if !cursor.goto_next_sibling() {
            return last;
        }
    }
}

/// The 0-based row of a node's last byte (its end point is one past it).
fn last_row(node: Node<'_>) -> usize {
    let Point { row, column } = node.end_position();
    if column == 0 && row > node.start_position().row {
        row - 1
    } else {
        row
    }
}

fn line_number(row: usize) -> u32 {
    u32::try_from(row + 1).unwrap_or(u32::MAX)
}

/// Counts ERROR and MISSING nodes, descending only into subtrees that
/// contain an error. At least 1 whenever the tree has an error, even one
/// hidden from the cursor (a missing invisible token).
fn count_errors(root: Node<'_>) -> u32 {
    if !root.has_error() {
        return 0;
    }
    let mut cursor = root.walk();
    let mut count: u32 = 0;
    loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            count = count.saturating_add(1);
        }
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return count.max(1);
            }
        }
    }
}
