"""Extract FINER++'s Table 2 (signed distance fields: Chamfer distance and IoU of PEMLP, SIREN, Gaussian, WIRE and
their FINER++ versions on 4 Stanford shapes) into inr_recover/paper_figures.csv, matched by the summary to our
``experiment=finerpp_sdf`` runs by data config name (armadillo, dragon_full, lucy, thai_statue), degradation (none)
and model name; the parenthesised improvements in the table are dropped. Its IoU and Chamfer are those of FINER's
code (``convention`` finer: inr_recover/tasks/shapes/metrics.py), printed beside runs scored the same way only.

    python tools/paper/finerpp_table2.py ../shared/papers/finerpp.txt inr_recover/paper_figures.csv
"""
import re
import sys

from figures import merge

DATA = {"Armadillo": "armadillo", "Dragon": "dragon_full", "Lucy": "lucy", "Thai Statue": "thai_statue"}
METHODS = [("pemlp", "PEMLP"), ("siren", "SIREN"), ("finer", "FINER++ (Sine)"), ("gauss", "Gaussian"),
           ("finer_gauss", "FINER++ (Gauss.)"), ("wire", "WIRE"), ("finer_wavelet", "FINER++ (Wavelet)")]
NUMBER = re.compile(r"\d\.\d+e-\d+")


def rows(text: str):
    """The table's rows: the Chamfer block, then the IoU block, each a line per shape (and an average, skipped); the
    metric's label sits on a middle line of its block, so a shape's first line is its Chamfer, its second its IoU."""
    table = text[text.index("Quantitative comparisons on representing signed distance field"):]
    figures = {}
    for line in table.splitlines()[1:]:
        shape = next((s for s in DATA if re.search(rf"\t{s}\t", line)), None)
        if shape is None:
            if line.strip().startswith("ing in a waste") or (figures and not line.strip()):
                break
            continue
        values = [float(v) for v in NUMBER.findall(re.sub(r"\(.*?\)", "", line))]
        assert len(values) == len(METHODS), (line, values)
        metric = "iou" if (DATA[shape], METHODS[0][0], shape) in figures else "chamfer"
        for (method, _), v in zip(METHODS, values):
            figures.setdefault((DATA[shape], method, shape), {})[metric] = v
    for (data, method, shape), m in figures.items():
        name = dict(METHODS)[method]
        yield {"data": data, "degrade": "none", "method": method, **m, "convention": "finer",  # FINER's metrics.py
               "source": f"FINER++ Table 2, {shape}, {name}"}


if __name__ == "__main__":
    found = list(rows(open(sys.argv[1], encoding="utf-8").read()))
    merge(sys.argv[2], found, "FINER++ Table 2")
    print(f"{len(found)} figures -> {sys.argv[2]}")
