"""Text and HTML previews of query results (0.14's layout: the first ``display.limit`` rows,
``=BLOB=`` for blob columns, ``*`` before primary-key names, the total count)."""

from __future__ import annotations

import html

from .settings import config


def _rows(query_expression, limit):
    heading = query_expression.heading
    rel = query_expression.proj(*heading.non_blobs)
    tuples = rel.fetch(limit=limit + 1, format="array")
    return rel, tuples[:limit], len(tuples) > limit


def preview(query_expression, limit, width):
    heading = query_expression.heading
    limit = config["display.limit"] if limit is None else limit
    width = config["display.width"] if width is None else width
    rel, tuples, has_more = _rows(query_expression, limit)
    columns = heading.names
    widths = {
        f: min(
            max(
                [len(f)] + [len(str(e)) for e in tuples[f]]
                if f in tuples.dtype.names
                else [len("=BLOB=")]
            )
            + 4,
            width,
        )
        for f in columns
    }
    templates = {f: "%%-%d.%ds" % (widths[f], widths[f]) for f in columns}
    head = " ".join(templates[f] % ("*" + f if f in rel.primary_key else f) for f in columns)
    rule = " ".join("+" + "-" * (widths[c] - 2) + "+" for c in columns)
    body = "\n".join(
        " ".join(templates[f] % (t[f] if f in t.dtype.names else "=BLOB=") for f in columns)
        for t in tuples
    )
    return (
        head
        + "\n"
        + rule
        + "\n"
        + body
        + ("\n   ...\n" if has_more else "\n")
        + (" (Total: %d)\n" % len(rel) if config["display.show_tuple_count"] else "")
    )


def repr_html(query_expression):
    heading = query_expression.heading
    limit = config["display.limit"]
    rel, tuples, has_more = _rows(query_expression, limit)
    columns = heading.names

    def cell(t, f):
        return html.escape(str(t[f])) if f in t.dtype.names else "=BLOB="

    header = "".join(
        '<th><div class="djtooltip"><p id="{}">{}</p><span class="djtooltiptext">{}</span>'
        "</div></th>".format(
            "primary" if c in query_expression.primary_key else "nonprimary",
            html.escape(c),
            html.escape(heading.attributes[c].comment or ""),
        )
        for c in columns
    )
    rows = "".join(
        "<tr>" + "".join(f"<td>{cell(t, f)}</td>" for f in columns) + "</tr>" for t in tuples
    )
    count = f"<p>Total: {len(rel)}</p>" if config["display.show_tuple_count"] else ""
    comment = html.escape(str((heading.table_status or {}).get("comment", "")))
    return (
        '<style type="text/css">.Table{border-collapse:collapse;}'
        ".Table th{background:#A0A0A0;color:#ffffff;padding:4px;border:#f0e0e0 1px solid;"
        "font-weight:normal;font-family:monospace;font-size:100%;}"
        ".Table td{padding:4px;border:#f0e0e0 1px solid;font-size:100%;}"
        ".Table tr:nth-child(odd){background:#ffffff;color:#000000;}"
        ".Table tr:nth-child(even){background:#f3f1ff;color:#000000;}"
        ".djtooltip .djtooltiptext{visibility:hidden;width:120px;background-color:black;"
        "color:#fff;text-align:center;padding:5px 0;border-radius:6px;position:absolute;"
        "z-index:1;}.djtooltip:hover .djtooltiptext{visibility:visible;}"
        "#primary{font-weight:bold;color:black;}#nonprimary{font-weight:normal;color:white;}"
        "</style>"
        f'<b>{comment}</b><div style="max-height:1000px;max-width:1500px;overflow:auto;">'
        f'<table border="1" class="Table"><thead><tr style="text-align:right;">{header}'
        f"</tr></thead><tbody><tr>{rows}</tr></tbody></table>"
        + ("<p>...</p>" if has_more else "")
        + count
        + "</div>"
    )
