"""Extract the novel-view-synthesis tables into inr_recover/paper_figures.csv: the CHOIR paper's Table 1 (PSNR / SSIM /
LPIPS of PEMLP, SIREN, Gauss, FINER, SL2A-INR, IGA-INR and CHOIR on the 8 Blender scenes) and, for the methods it does
not report, FINER++'s Table 3 (WIRE, FINER++ (Gauss.), FINER++ (Wavelet); the parenthesised improvements dropped).
The summary matches them to our task=view_synthesis runs by data config name (chair, ..., lego, ..., ship),
degradation (none) and model name; SL2A-INR and IGA-INR are not in inr-recover and show as the paper's alone.

    python tools/paper/view_synthesis.py ../shared/papers/choir_eccv2026.txt ../shared/papers/finerpp.txt \
        inr_recover/paper_figures.csv
"""
import re
import sys

from figures import merge

SCENES = ["chair", "drums", "ficus", "hotdog", "lego", "materials", "mic", "ship"]
CHOIR = {"PEMLP": "pemlp", "SIREN": "siren", "Gauss": "gauss", "FINER": "finer", "SL2A-INR": "sl2a_inr",
         "IGA-INR": "iga_inr", "CHOIR(Ours)": "choir"}
FINERPP = ["pemlp", "siren", "finer_sine", "gauss", "finer_gauss", "wire", "finer_wavelet"]  # Table 3's columns
FINERPP_KEPT = {"wire": "WIRE", "finer_gauss": "FINER++ (Gauss.)", "finer_wavelet": "FINER++ (Wavelet)"}
NUMBER = re.compile(r"\d+\.\d+")


def choir_rows(text: str):
    """Table 1: a line per metric and method (``PSNR↑ PEMLP [ref] v1 .. v8``, then the method alone on the block's
    other lines)."""
    table = text[text.index("Table 1: Quantitative results on novel view synthesis"):]
    figures, metric = {}, None
    for line in table.splitlines()[2:]:
        head = re.match(r"^(PSNR|SSIM|LPIPS)\S* ", line)
        metric = head.group(1).lower() if head else metric
        name = next((n for n in CHOIR if re.search(rf"(^|\s){re.escape(n)}(\s|\[)", line)), None)
        if name is None:
            break
        values = [float(v) for v in NUMBER.findall(re.sub(r"\[.*?\]", "", line))]
        assert len(values) == len(SCENES), (line, values)
        for scene, v in zip(SCENES, values):
            figures.setdefault((scene, name), {})[metric] = v
    for (scene, name), m in figures.items():
        yield {"data": scene, "degrade": "none", "method": CHOIR[name], **m,
               "source": f"CHOIR (ECCV 2026) Table 1, {scene}, {name}"}


def finerpp_rows(text: str):
    """Table 3: a line per scene in each metric's block (PSNR, SSIM, LPIPS in turn), the first number of each of the
    seven columns its value."""
    table = text[
        text.index("We evaluate the FINER++ for this task") : text.index("TABLE 3 Quantitative comparisons on novel")
    ]
    figures = {}
    for line in table.splitlines():
        cells = line.split("\t")
        scene = next((s for s in SCENES if len(cells) > 1 and cells[1].strip().lower() == s), None)
        if scene is None:
            continue
        values = [float(NUMBER.search(c).group()) for c in cells[2:9]]
        metric = ["psnr", "ssim", "lpips"][sum(1 for k in figures if k[0] == scene) // len(FINERPP)]
        for method, v in zip(FINERPP, values):
            figures[(scene, method, metric)] = v
    for method, name in FINERPP_KEPT.items():
        for scene in SCENES:
            yield {
                "data": scene,
                "degrade": "none",
                "method": method,
                **{m: figures[(scene, method, m)] for m in ("psnr", "ssim", "lpips")},
                "source": f"FINER++ Table 3, {scene}, {name}",
            }


if __name__ == "__main__":
    choir = list(choir_rows(open(sys.argv[1], encoding="utf-8").read()))
    finerpp = list(finerpp_rows(open(sys.argv[2], encoding="utf-8").read()))
    merge(sys.argv[3], choir, "CHOIR (ECCV 2026) Table 1")
    merge(sys.argv[3], finerpp, "FINER++ Table 3")
    print(f"{len(choir)} + {len(finerpp)} figures -> {sys.argv[3]}")
