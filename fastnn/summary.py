"""The text of ``Sequential.summary()``: a table in Keras's layout (layer, output shape, parameter count)."""
from __future__ import annotations


def summary_table(head: str, rows: list[tuple[str, int | None, int]], trainable: int, non_trainable: int) -> str:
    """``rows``: (layer description, output width or None when unbuilt, parameter count: every value the layer
    holds, trainable or not, as Keras's ``count_params``, so the rows add up to the total)."""
    cells = [("Layer", "Output shape", "Param #")]
    cells += [(name, f"(None, {out})" if out is not None else "?", f"{n:,}") for name, out, n in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    line = "  ".join("-" * w for w in widths)

    def fmt(row: tuple[str, str, str]) -> str:
        return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}"

    body = [fmt(cells[0]), line.replace("-", "=")] + [fmt(row) for row in cells[1:]] + [line]
    totals = [f"Total params: {trainable + non_trainable:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {non_trainable:,}"]
    return "\n".join([head] + body + totals)
