# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only: it runs on the masters, which have no PyYAML.
"""A loader for the subset of YAML that Kubernetes tools write.

kubeadm serialises static pod manifests with sigs.k8s.io/yaml: block mappings
and sequences, plain / quoted / block scalars, simple flow collections,
comments. ``load_yaml`` reads that (and JSON); anything else raises
``ManifestError`` with the line number, never another exception.
"""

from __future__ import annotations

import json
import re


class ManifestError(Exception):
    """The manifest cannot be used; the message says why and how to fix it."""

    def __init__(self, msg, line=None):
        self.line = line
        super().__init__(f"line {line}: {msg}" if line is not None else msg)


# --------------------------------------------------------------------------
# YAML subset loader
# --------------------------------------------------------------------------

# Characters YAML does not allow in a stream (binary data, damaged files).
_NON_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")

# YAML 1.1 implicit types, as PyYAML and go-yaml v2 resolve them.
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}
_FALSE = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}
_INT = re.compile(
    r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|0[0-7_]+|0|[1-9][0-9_]*)\Z",
)
_FLOAT = re.compile(
    r"(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?"
    r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z"
)

_ESCAPES = {
    "0": "\0",
    "a": "\x07",
    "b": "\x08",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\x0b",
    "f": "\x0c",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}

_BLOCK_HEADER = re.compile(r"([|>])([-+]?)([1-9]?)([-+]?)[ \t]*(?:#.*)?\Z")


def _resolve(text):
    """Type of an unquoted scalar."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    try:
        if _INT.match(text):
            digits = text.replace("_", "")
            sign = -1 if digits[0] == "-" else 1
            digits = digits.lstrip("+-")
            if digits.startswith("0b"):
                return sign * int(digits[2:], 2)
            if digits.startswith("0x"):
                return sign * int(digits[2:], 16)
            if len(digits) > 1 and digits[0] == "0":
                return sign * int(digits, 8)
            return sign * int(digits)
        if _FLOAT.match(text):
            value = text.replace("_", "").lower()
            if value.endswith(".inf"):
                return float("-inf") if value[0] == "-" else float("inf")
            if value == ".nan":
                return float("nan")
            return float(value)
    except ValueError:  # only underscores after a prefix, such as 0x_
        pass
    return text


def _is_doc_marker(line):
    return line[:3] in ("---", "...") and (len(line) == 3 or line[3] in " \t")


def _is_seq_item(content):
    return content == "-" or content[:2] in ("- ", "-\t")


def _cut_comment(text):
    """Split a plain scalar from a trailing comment (a '#' after whitespace)."""
    match = re.search(r"[ \t]#", text)
    if match:
        return text[: match.start()], True
    return text, False


def _quoted_segment(s, i, quote, line_no):
    """Scan a quoted scalar from s[i] (just after the opening quote) to the end of the line.

    Returns (text, protected, end, escaped_break): `end` is the index after the
    closing quote or None when the line ends first; `protected` is how many
    leading characters of `text` came from escapes and must survive folding.
    """
    out = []
    protected = 0
    while i < len(s):
        c = s[i]
        if c == quote:
            if quote == "'" and s[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
                protected = len(out)
                continue
            return "".join(out), protected, i + 1, False
        if quote == '"' and c == "\\":
            if i + 1 == len(s):
                return "".join(out), len(out), None, True
            esc = s[i + 1]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 2
            elif esc in _HEX_ESCAPES:
                width = _HEX_ESCAPES[esc]
                digits = s[i + 2 : i + 2 + width]
                if len(digits) != width or not re.match(r"[0-9a-fA-F]+\Z", digits):
                    raise ManifestError(
                        f"bad escape '\\{esc}{digits}' in a double-quoted string", line_no
                    )
                out.append(chr(int(digits, 16)))
                i += 2 + width
            else:
                raise ManifestError(f"unknown escape '\\{esc}' in a double-quoted string", line_no)
            protected = len(out)
            continue
        out.append(c)
        i += 1
    return "".join(out), protected, None, False


def _strip_flow_comment(line):
    """Drop a comment from one line of a flow collection, ignoring '#' inside quotes."""
    quote = None
    prev = " "
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'" and prev in " \t[{,:":
            quote = c
        elif c == "#" and prev in " \t":
            return line[:i]
        prev = c
    return line


def _flow_depth(text):
    quote = None
    prev = " "
    depth = 0
    for c in text:
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'" and prev in " \t[{,:":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        prev = c
    return depth


class _FlowParser:
    """Flow collections of scalars: [a, "b", {c: d}], on one logical line."""

    def __init__(self, text, line_no):
        self.s = text
        self.i = 0
        self.line_no = line_no

    def error(self, msg):
        return ManifestError(f"{msg} in the flow collection '{self.s.strip()}'", self.line_no)

    def skip_space(self):
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def peek(self):
        self.skip_space()
        return self.s[self.i] if self.i < len(self.s) else ""

    def node(self):
        c = self.peek()
        if c == "[":
            return self.sequence()
        if c == "{":
            return self.mapping()
        return self.scalar()

    def sequence(self):
        self.i += 1
        items = []
        while True:
            c = self.peek()
            if c == "]":
                self.i += 1
                return items
            if c in ("", ","):
                raise self.error("expected an item or ']'")
            items.append(self.node())
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c == ":":
                raise self.error("'key: value' pairs inside [...] are not supported")
            elif c != "]":
                raise self.error("expected ',' or ']'")

    def mapping(self):
        self.i += 1
        result = {}
        while True:
            c = self.peek()
            if c == "}":
                self.i += 1
                return result
            if c in ("", ",", "[", "{"):
                raise self.error("expected a key or '}'")
            key = self.scalar()
            value = None
            if self.peek() == ":":
                self.i += 1
                if self.peek() not in (",", "}"):
                    value = self.node()
            if key in result:
                raise self.error(f"duplicate key '{key}'")
            result[key] = value
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c != "}":
                raise self.error("expected ',' or '}'")

    def scalar(self):
        c = self.peek()
        if c in ("'", '"'):
            text, _protected, end, _esc = _quoted_segment(self.s, self.i + 1, c, self.line_no)
            if end is None:
                raise self.error("unterminated quoted string")
            self.i = end
            return text
        if c in "&*!|>@`%":
            raise self.error(f"'{c}' (anchors, aliases, tags, block scalars) is not supported")
        start = self.i
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in ",[]{}":
                break
            if c == ":" and (self.i + 1 == len(self.s) or self.s[self.i + 1] in " \t,[]{}"):
                break
            self.i += 1
        text = self.s[start : self.i].strip(" \t")
        if not text:
            raise self.error("empty item")
        return _resolve(text)


class _Loader:
    """Line-based recursive descent over block-style YAML.

    `self.pos` is the index of the current line. A line is "content" unless it
    is blank or a comment. A sequence item '- x' is read by blanking its dash,
    so that x is parsed as a node at its own column.
    """

    def __init__(self, text):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.lines = text.split("\n")
        self.ends_with_newline = text.endswith("\n")
        if self.ends_with_newline:
            self.lines.pop()
        self.pos = 0

    def error(self, msg, index=None):
        return ManifestError(msg, (self.pos if index is None else index) + 1)

    def skip_blank(self):
        """Move to the next content line; False at the end of the text."""
        while self.pos < len(self.lines):
            stripped = self.lines[self.pos].strip(" \t")
            if stripped and not stripped.startswith("#"):
                return True
            self.pos += 1
        return False

    def peek(self):
        """(indent, content) of the next content line, None at the end of the document."""
        if not self.skip_blank():
            return None
        line = self.lines[self.pos]
        if _is_doc_marker(line):
            return None
        content = line.lstrip(" ")
        if content.startswith("\t"):
            raise self.error("a tab in the indentation; YAML indents with spaces only")
        return len(line) - len(content), content

    # -- document -----------------------------------------------------------

    def load(self):
        started = False
        while self.skip_blank():
            line = self.lines[self.pos]
            if line.startswith("%") and not started:
                self.pos += 1  # %YAML / %TAG directive
                continue
            if line[:3] == "---" and _is_doc_marker(line) and not started:
                rest = line[3:].strip(" \t")
                if rest and not rest.startswith("#"):
                    raise self.error(
                        "content on the '---' line is not supported; put it on the next line"
                    )
                started = True
                self.pos += 1
                continue
            break
        value = None
        head = self.peek()
        if head is not None:
            value = self.block_node(head[0], -1)
        if self.skip_blank():
            line = self.lines[self.pos]
            if line[:3] == "..." and _is_doc_marker(line):
                self.pos += 1
                if self.skip_blank():
                    raise self.error("text after the end of the document ('...')")
            elif line[:3] == "---" and _is_doc_marker(line):
                raise self.error(
                    "a second YAML document starts here; a static pod manifest holds exactly one"
                )
            else:
                raise self.error(
                    "unexpected text here: check the indentation of this line (is the file YAML?)"
                )
        return value

    # -- block nodes --------------------------------------------------------

    def block_node(self, indent, parent_indent):
        _indent, content = self.peek()
        if _is_seq_item(content):
            return self.sequence(indent)
        if self.split_key(content) is not None:
            return self.mapping(indent)
        return self.inline_value(content, parent_indent)

    def mapping(self, indent):
        result = {}
        while True:
            head = self.peek()
            if head is None or head[0] < indent:
                return result
            ind, content = head
            if ind > indent:
                raise self.error(
                    "unexpected indentation: this line is indented deeper than the keys above it"
                )
            if _is_seq_item(content):
                raise self.error("a sequence item '- ' where a 'key: value' was expected")
            split = self.split_key(content)
            if split is None:
                raise self.error("expected 'key: value' (a mapping entry) here")
            key, rest = split
            if key in result:
                raise self.error(f"duplicate key '{key}'")
            result[key] = self.value_after_indicator(rest, indent, same_indent_sequence=True)

    def sequence(self, indent):
        result = []
        while True:
            head = self.peek()
            if head is None or head[0] < indent:
                return result
            ind, content = head
            if ind > indent:
                raise self.error(
                    "unexpected indentation: this line is indented deeper than the '- ' items"
                    " above it"
                )
            if not _is_seq_item(content):
                return result
            body = content[1:].lstrip(" \t")
            if not body or body.startswith("#"):
                result.append(self.value_after_indicator("", indent, same_indent_sequence=False))
                continue
            column = ind + len(content) - len(body)
            if _is_seq_item(body) or self.split_key(body) is not None:
                # "- key: v" / "- - x": a collection whose first line starts at `column`.
                self.lines[self.pos] = " " * column + body
                result.append(self.block_node(column, indent))
            else:
                result.append(self.inline_value(body, indent))

    def value_after_indicator(self, rest, indent, same_indent_sequence):
        """Value after 'key:' or '-': on the same line, or the block below."""
        text = rest.lstrip(" \t")
        if text and not text.startswith("#"):
            return self.inline_value(text, indent)
        self.pos += 1
        head = self.peek()
        if head is None:
            return None
        if head[0] > indent:
            return self.block_node(head[0], indent)
        if head[0] == indent and same_indent_sequence and _is_seq_item(head[1]):
            # kubeadm style: the items of a list sit at the indentation of their key
            return self.sequence(indent)
        return None

    def split_key(self, content):
        """(key, rest of line) when content is 'key: ...', else None."""
        first = content[0]
        if first in ("'", '"'):
            text, _protected, end, _esc = _quoted_segment(content, 1, first, self.pos + 1)
            if end is None:
                return None
            after = content[end:].lstrip(" \t")
            if after[:1] == ":" and (len(after) == 1 or after[1] in " \t"):
                return text, after[1:]
            return None
        if first in "[{":
            return None
        if first == "?" and (len(content) == 1 or content[1] in " \t"):
            raise self.error("complex mapping keys ('? ') are not supported")
        match = re.search(r":(?=[ \t]|\Z)|[ \t]#", content)
        if match is None or match.group() != ":":
            return None
        key = content[: match.start()].rstrip(" \t")
        if not key:
            raise self.error("a mapping entry without a key")
        if key[0] in "&*!":
            raise self.error("anchors, aliases and tags are not supported")
        return _resolve(key), content[match.end() :]

    # -- scalars and flow collections -----------------------------------------

    def inline_value(self, text, parent_indent):
        """A node that starts in the middle of the current line (consumes its lines)."""
        first = text[0]
        if first in "|>":
            return self.block_scalar(text, parent_indent)
        if first in ("'", '"'):
            return self.quoted(text)
        if first in "[{":
            return self.flow(text)
        if first in "&*!":
            raise self.error("anchors (&), aliases (*) and tags (!) are not supported")
        if first in "@`%,]}":
            raise self.error(f"a plain value cannot start with '{first}'; quote it")
        if first in "-?:" and (len(text) == 1 or text[1] in " \t"):
            raise self.error(
                f"unexpected '{first} ' here; check the indentation or quote the value"
            )
        return self.plain(text, parent_indent)

    def check_plain(self, text):
        if re.search(r":(?:[ \t]|\Z)", text):
            raise self.error(
                "':' followed by a space inside a value; quote the value or fix the indentation"
            )

    def plain(self, text, parent_indent):
        value, had_comment = _cut_comment(text)
        value = value.rstrip(" \t")
        self.check_plain(value)
        parts = [value]
        self.pos += 1
        breaks = 0
        while not had_comment and self.pos < len(self.lines):
            line = self.lines[self.pos]
            stripped = line.strip(" \t")
            if not stripped:
                breaks += 1
                self.pos += 1
                continue
            indent = len(line) - len(line.lstrip(" "))
            if indent <= parent_indent or stripped.startswith("#") or _is_doc_marker(line):
                break
            piece, had_comment = _cut_comment(stripped)
            piece = piece.rstrip(" \t")
            self.check_plain(piece)
            parts.append("\n" * breaks if breaks else " ")
            parts.append(piece)
            breaks = 0
            self.pos += 1
        return _resolve("".join(parts))

    def quoted(self, text):
        quote = text[0]
        start = self.pos
        chunks = []
        s, i = text, 1
        while True:
            segment, protected, end, escaped_break = _quoted_segment(s, i, quote, self.pos + 1)
            if end is not None:
                chunks.append(segment)
                break
            if not escaped_break:
                segment = segment[:protected] + segment[protected:].rstrip(" \t")
            chunks.append(segment)
            # the line break: folded to a space, or kept for each blank line
            self.pos += 1
            breaks = 0
            while self.pos < len(self.lines) and not self.lines[self.pos].strip(" \t"):
                breaks += 1
                self.pos += 1
            if self.pos >= len(self.lines) or _is_doc_marker(self.lines[self.pos]):
                kind = "single" if quote == "'" else "double"
                raise ManifestError(
                    f"this {kind}-quoted string is never closed (the file may be truncated)",
                    start + 1,
                )
            if breaks:
                chunks.append("\n" * breaks)
            elif not escaped_break:
                chunks.append(" ")
            s = self.lines[self.pos]
            i = len(s) - len(s.lstrip(" \t"))
        rest = s[end:].strip(" \t")
        if rest and not rest.startswith("#"):
            raise self.error(f"unexpected text after a quoted string: '{rest}'")
        self.pos += 1
        return "".join(chunks)

    def flow(self, text):
        start = self.pos
        buf = _strip_flow_comment(text)
        while _flow_depth(buf) > 0:
            self.pos += 1
            if self.pos >= len(self.lines):
                raise ManifestError(
                    "this flow collection ('[' or '{') is never closed (the file may be truncated)",
                    start + 1,
                )
            buf += " " + _strip_flow_comment(self.lines[self.pos].strip(" \t"))
        parser = _FlowParser(buf, start + 1)
        value = parser.node()
        rest = buf[parser.i :].strip(" \t")
        if rest:
            raise self.error(f"unexpected text after a flow collection: '{rest}'")
        self.pos += 1
        return value

    def block_scalar(self, text, parent_indent):
        header = _BLOCK_HEADER.match(text)
        if header is None or (header.group(2) and header.group(4)):
            raise self.error(f"bad block scalar header '{text.strip()}'")
        folded = header.group(1) == ">"
        chomp = header.group(2) or header.group(4)
        min_indent = max(parent_indent + 1, 1)
        lines = self.lines
        start = self.pos + 1
        if header.group(3):
            indent = min_indent + int(header.group(3)) - 1
        else:
            j, longest_blank = start, 0
            while j < len(lines) and not lines[j].strip(" "):
                longest_blank = max(longest_blank, len(lines[j]))
                j += 1
            first = len(lines[j]) - len(lines[j].lstrip(" ")) if j < len(lines) else 0
            indent = max(min_indent, longest_blank, first)
        body = []  # text of each line below `indent`, None for an empty line
        j = start
        while j < len(lines):
            line = lines[j]
            if not line.strip(" ") and len(line) <= indent:
                body.append(None)
            elif len(line) - len(line.lstrip(" ")) >= indent:
                body.append(line[indent:])
            else:
                break
            j += 1
        self.pos = j

        def terminated(k):
            return start + k < len(lines) - 1 or self.ends_with_newline

        chunks, breaks, k = [], [], 0
        while k < len(body) and body[k] is None:
            breaks.append("\n")
            k += 1
        line_break = ""
        while k < len(body):
            chunks.extend(breaks)
            current = body[k]
            chunks.append(current)
            line_break = "\n" if terminated(k) else ""
            k += 1
            breaks = []
            while k < len(body) and body[k] is None:
                breaks.append("\n")
                k += 1
            if k == len(body):
                break
            if (
                folded
                and line_break
                and current[:1] not in (" ", "\t")
                and body[k][:1] not in (" ", "\t")
            ):
                if not breaks:
                    chunks.append(" ")
            else:
                chunks.append(line_break)
        if chomp != "-":
            chunks.append(line_break)
        if chomp == "+":
            chunks.extend(breaks)
        return "".join(chunks)


def decode_manifest(data):
    """Bytes of a manifest -> text; ManifestError for binary or non-UTF-8 data."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ManifestError(
            f"byte 0x{data[err.start]:02x} is not UTF-8 text: this is binary or damaged data,"
            " not a YAML manifest",
            line,
        ) from None
    return text


def load_yaml(text):
    """Parse a YAML (or JSON) document in the subset Kubernetes manifests use."""
    if isinstance(text, bytes):
        text = decode_manifest(text)
    if text.startswith("\ufeff"):
        text = text[1:]
    bad = _NON_PRINTABLE.search(text)
    if bad:
        raise ManifestError(
            f"control character U+{ord(bad.group()):04X}: this is binary or damaged data,"
            " not a YAML manifest",
            text.count("\n", 0, bad.start()) + 1,
        )
    try:
        try:
            return json.loads(text)
        except ValueError:
            pass
        return _Loader(text).load()
    except RecursionError:
        raise ManifestError("the document is nested too deeply to be a pod manifest") from None
