"""Extract the CHOIR paper's Tables 2 and 3 (ECCV 2026, plain text) into inr_recover/paper_figures.csv: one row per
dataset x degradation x method with the paper's PSNR / SSIM / LPIPS, matched by the summary (inr_recover/cli/summary.py)
to our runs by data config name, degradation config name and model name.

    python tools/paper/choir_tables.py ../shared/papers/choir_eccv2026.txt inr_recover/paper_figures.csv
"""
import re
import sys

from figures import merge

# paper dataset -> our data config names (conf/data/*.yaml) that load that tensor at the paper's size
DATA = {"WDC": "wdc", "Urban": "urban", "Flowers": "flowers", "Toys": "toys", "Shop": "shop", "News": "news",
        "Pavia": "pavia", "Cloth": "cloth cave_cloth", "Bird": "bird kodim23", "Statue": "statue"}
METHOD = {"SIREN": "siren", "LRTFR": "lrtfr", "CRNL": "crnl", "FINER": "finer", "DRO-TFF": "dro_tff", "FreSh": "fresh",
          "CHOIR": "choir"}
TABLES = {"Table 2": ["random_0.1", "random_0.3", "tube_0.1", "tube_0.3"], "Table 3": ["scene1", "scene2", "scene3"]}
ROW = re.compile(r"^(?:(?:HSI|MSI|Video|RGB) (\w+) )?([A-Za-z-]+)(?:\[\w+\])? ((?:[\d.]+ ?)+)$")


def rows(text: str):
    table, dataset = None, None
    for line in text.splitlines():
        head = re.match(r"^(Table [234]):", line)
        if head:
            table = head.group(1) if head.group(1) in TABLES else None
            continue
        m = ROW.match(line.strip()) if table else None
        if not m or m.group(2) not in METHOD:
            continue
        dataset = m.group(1) or dataset
        values = [float(v) for v in m.group(3).split()]
        for i, degrade in enumerate(TABLES[table]):
            psnr, ssim, lpips = values[3 * i: 3 * i + 3]
            yield {"data": DATA[dataset], "degrade": degrade, "method": METHOD[m.group(2)], "psnr": psnr, "ssim": ssim,
                   "lpips": lpips, "source": f"CHOIR (ECCV 2026) {table}, {dataset}, {m.group(2)}"}


if __name__ == "__main__":
    found = list(rows(open(sys.argv[1], encoding="utf-8").read()))
    merge(sys.argv[2], found, ("CHOIR (ECCV 2026) Table 2", "CHOIR (ECCV 2026) Table 3"))
    print(f"{len(found)} figures -> {sys.argv[2]}")
