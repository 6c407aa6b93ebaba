"""Voice accuracy: WER, district and category accuracy on spoken complaints, per condition.

30 Hindi and 30 English short complaints (each names a district of the zone and describes a category)
are spoken by espeak-ng, then degraded: 8 kHz μ-law (a phone call recording), AMR-NB 12.2 kbit/s (PyAV's
libopencore_amrnb encoder; Debian's ffmpeg has no AMR encoder), and Opus 24 kbit/s with white noise at
~15 dB SNR (a WhatsApp voice note in a street). Each clip is transcribed with the default backend, the
transcript is scored against the text (WER), and ``bot.nlu.extract`` is run on it for district and
category; the NLU's accuracy on the reference text itself is printed as the ceiling.

The NLU reads transcripts as voice (``extract(..., source="voice")``, see bot/voicefix.py), as the engine does.

Usage: .venv/bin/python bench/voice_accuracy.py [--limit N] [--langs en,hi] [--conditions clean,mulaw8k,amr,opus_noise]
       [--show] [--save FILE.jsonl]
       .venv/bin/python bench/voice_accuracy.py --rescore FILE.jsonl [--show]   (re-score saved transcripts, no audio)
Generated audio is cached under var/bench-audio/accuracy/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.voice.speech import to_amr  # noqa: E402

CACHE = ROOT / "var" / "bench-audio" / "accuracy"
CONDITIONS = ("clean", "mulaw8k", "amr", "opus_noise")

# (text, district key, category key)
EN = [
    ("My mobile phone was stolen at Rawatpur in Kanpur yesterday evening", "kanpur_nagar", "theft_mobile"),
    ("Someone stole my motorcycle from the market in Etawah this morning", "etawah", "theft_vehicle"),
    ("I lost my Aadhaar card and driving licence in Jhansi", "jhansi", "lost_documents"),
    ("A man keeps following and harassing my daughter near her college in Lalitpur", "lalitpur", "harassment"),
    ("My husband beats me every night, we live in Auraiya", "auraiya", "domestic_dispute"),
    ("My neighbour has illegally occupied my land in Kannauj", "kannauj", "land_dispute"),
    ("Fifty thousand rupees were taken from my bank account by an online fraud in Farrukhabad", "farrukhabad",
     "cyber_fraud"),
    ("A local goon is threatening to kill me in Jalaun", "jalaun", "threat"),
    ("Loud music is played all night at a wedding hall in Kanpur Dehat", "kanpur_dehat", "nuisance"),
    ("Trucks block the main road every evening in Etawah and there is a traffic jam", "etawah", "traffic"),
    ("A police constable in Jhansi took a bribe from me", "jhansi", "police_conduct"),
    ("My phone was snatched by two boys on a bike in Kanpur", "kanpur_nagar", "theft_mobile"),
    ("My scooter was stolen from outside my house in Auraiya", "auraiya", "theft_vehicle"),
    ("Thieves broke into my shop in Kannauj and stole cash and jewellery", "kannauj", "theft_other"),
    ("I received a fake call and lost money through UPI fraud in Jalaun", "jalaun", "cyber_fraud"),
    ("Some boys tease women at the bus stand in Farrukhabad every day", "farrukhabad", "harassment"),
    ("My brother and I are fighting over the family land in Lalitpur", "lalitpur", "land_dispute"),
    ("I lost my passport at the railway station in Kanpur", "kanpur_nagar", "lost_documents"),
    ("My wife's family is threatening me on the phone, I live in Kanpur Dehat", "kanpur_dehat", "threat"),
    ("My bicycle was stolen from the school in Jhansi", "jhansi", "theft_vehicle"),
    ("A DJ plays very loud music late at night in my street in Kannauj", "kannauj", "nuisance"),
    ("My in-laws harass me for dowry in Etawah", "etawah", "domestic_dispute"),
    ("The police at the station in Auraiya refused to write my report and misbehaved with me", "auraiya",
     "police_conduct"),
    ("My mobile was stolen in a crowded bus going to Jalaun", "jalaun", "theft_mobile"),
    ("Someone hacked my Facebook account and is asking my friends for money, I am from Lalitpur", "lalitpur",
     "cyber_fraud"),
    ("Auto rickshaws park on the road and cause traffic jams in Farrukhabad", "farrukhabad", "traffic"),
    ("My gold chain was stolen from my house in Kanpur Dehat", "kanpur_dehat", "theft_other"),
    ("I lost my bag with my marksheets and documents in Kannauj", "kannauj", "lost_documents"),
    ("A man threatens to burn my shop if I do not pay him in Jhansi", "jhansi", "threat"),
    ("My car was stolen from the parking lot in Kanpur", "kanpur_nagar", "theft_vehicle"),
]
HI = [
    ("कानपुर के रावतपुर में कल शाम मेरा मोबाइल चोरी हो गया", "kanpur_nagar", "theft_mobile"),
    ("इटावा के बाजार से आज सुबह मेरी मोटरसाइकिल चोरी हो गई", "etawah", "theft_vehicle"),
    ("झांसी में मेरा आधार कार्ड और ड्राइविंग लाइसेंस खो गया", "jhansi", "lost_documents"),
    ("ललितपुर में एक लड़का मेरी बेटी को रोज़ परेशान करता है और छेड़ता है", "lalitpur", "harassment"),
    ("औरैया में मेरा पति मुझे रोज़ मारता पीटता है", "auraiya", "domestic_dispute"),
    ("कन्नौज में मेरे पड़ोसी ने मेरी ज़मीन पर कब्ज़ा कर लिया है", "kannauj", "land_dispute"),
    ("फर्रुखाबाद में ऑनलाइन धोखाधड़ी से मेरे बैंक खाते से पचास हज़ार रुपये निकल गए", "farrukhabad", "cyber_fraud"),
    ("जालौन में एक गुंडा मुझे जान से मारने की धमकी दे रहा है", "jalaun", "threat"),
    ("कानपुर देहात में रात भर तेज़ आवाज़ में डीजे बजता है", "kanpur_dehat", "nuisance"),
    ("इटावा में हर शाम मुख्य सड़क पर जाम लगता है", "etawah", "traffic"),
    ("झांसी में एक सिपाही ने मुझसे रिश्वत ली", "jhansi", "police_conduct"),
    ("कानपुर में बाइक सवार दो लड़के मेरा फोन छीन कर भाग गए", "kanpur_nagar", "theft_mobile"),
    ("औरैया में मेरे घर के बाहर से मेरी स्कूटी चोरी हो गई", "auraiya", "theft_vehicle"),
    ("कन्नौज में चोरों ने मेरी दुकान से नकदी और गहने चुरा लिए", "kannauj", "theft_other"),
    ("जालौन में फर्जी कॉल से यूपीआई धोखाधड़ी में मेरे पैसे चले गए", "jalaun", "cyber_fraud"),
    ("फर्रुखाबाद के बस अड्डे पर कुछ लड़के महिलाओं को छेड़ते हैं", "farrukhabad", "harassment"),
    ("ललितपुर में मेरे भाई ने पुश्तैनी ज़मीन पर झगड़ा किया है", "lalitpur", "land_dispute"),
    ("कानपुर रेलवे स्टेशन पर मेरा पासपोर्ट खो गया", "kanpur_nagar", "lost_documents"),
    ("कानपुर देहात में मेरे ससुराल वाले मुझे फोन पर धमकी दे रहे हैं", "kanpur_dehat", "threat"),
    ("झांसी में स्कूल से मेरी साइकिल चोरी हो गई", "jhansi", "theft_vehicle"),
    ("कन्नौज में मेरी गली में देर रात तक तेज़ डीजे बजता है", "kannauj", "nuisance"),
    ("इटावा में मेरे ससुराल वाले दहेज के लिए मुझे परेशान करते हैं", "etawah", "domestic_dispute"),
    ("औरैया थाने में पुलिस ने मेरी रिपोर्ट नहीं लिखी और बदतमीज़ी की", "auraiya", "police_conduct"),
    ("जालौन जाने वाली बस में मेरा मोबाइल चोरी हो गया", "jalaun", "theft_mobile"),
    ("ललितपुर में किसी ने मेरा फेसबुक खाता हैक करके दोस्तों से पैसे मांगे", "lalitpur", "cyber_fraud"),
    ("फर्रुखाबाद में ऑटो सड़क पर खड़े रहते हैं और जाम लगता है", "farrukhabad", "traffic"),
    ("कानपुर देहात में मेरे घर से सोने की चेन चोरी हो गई", "kanpur_dehat", "theft_other"),
    ("कन्नौज में मेरा बैग और मार्कशीट खो गए", "kannauj", "lost_documents"),
    ("झांसी में एक आदमी पैसे न देने पर मेरी दुकान जलाने की धमकी देता है", "jhansi", "threat"),
    ("कानपुर में पार्किंग से मेरी कार चोरी हो गई", "kanpur_nagar", "theft_vehicle"),
]


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def make_audio(text: str, lang: str, condition: str) -> Path:
    """The clip for one text and condition (cached by content hash)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{lang}:{text}".encode()).hexdigest()[:12]
    wav = CACHE / f"{lang}-{key}.wav"
    if not wav.exists():
        _run(["espeak-ng", "-v", lang, "-w", str(wav), text])
    if condition == "clean":
        return wav
    if condition == "mulaw8k":
        out = CACHE / f"{lang}-{key}.mulaw.wav"
        if not out.exists():
            _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ar", "8000", "-ac", "1", "-c:a",
                  "pcm_mulaw", str(out)])
        return out
    if condition == "amr":
        out = CACHE / f"{lang}-{key}.amr"
        if not out.exists():
            to_amr(wav, out)
        return out
    if condition == "opus_noise":
        out = CACHE / f"{lang}-{key}.noise.ogg"
        if not out.exists():
            noisy = CACHE / f"{lang}-{key}.noise.wav"
            # speech RMS from espeak is ~0.15; white noise at 0.03 amplitude RMS gives roughly 15 dB SNR
            _run(["sox", str(wav), "-r", "16000", str(noisy.with_suffix(".16k.wav"))])
            _run(["sox", "-n", "-r", "16000", "-c", "1", str(noisy.with_suffix(".n.wav")), "synth",
                  str(_duration(wav)), "whitenoise", "vol", "0.05"])
            _run(["sox", "-m", str(noisy.with_suffix(".16k.wav")), str(noisy.with_suffix(".n.wav")), str(noisy)])
            _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(noisy), "-c:a", "libopus", "-b:a", "24k",
                  str(out)])
            for p in (noisy, noisy.with_suffix(".16k.wav"), noisy.with_suffix(".n.wav")):
                p.unlink(missing_ok=True)
        return out
    raise ValueError(condition)


def _duration(wav: Path) -> float:
    import av

    with av.open(str(wav)) as c:
        return c.duration / av.time_base


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation (Devanagari kept, nuqta folded)."""
    t = unicodedata.normalize("NFKD", text.lower())
    t = t.replace("\u093c", "")
    t = re.sub(r"[^\w\s\u0900-\u0963\u0966-\u097F]", " ", t)  # vowel signs are not \w: keep them, drop dandas
    return t.split()


def wer(ref: str, hyp: str, roman: bool = False) -> tuple[int, int]:
    """(edit distance in words, reference length); ``roman``: words compared by phonetic key of their romanisation.

    Whisper writes Hindi in Devanagari or in Latin letters; the romanised WER compares both on equal terms.
    """
    r, h = normalise(ref), normalise(hyp)
    if roman:
        from bot.textutil import phonetic_key

        r, h = [phonetic_key(w) for w in r], [phonetic_key(w) for w in h]
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev = cur
    return d[len(h)], len(r)


def rescore(path: Path, show: bool = False) -> None:
    """District/category accuracy of saved transcripts, read as voice (``bot.nlu.extract(..., source="voice")``)."""
    from bot.nlu import extract

    at = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    rows: dict[tuple[str, str], list[dict]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        rows.setdefault((r["lang"], r["cond"]), []).append(r)
    print(f"{'lang':4} {'condition':11} {'n':>3} {'WER':>6} {'rWER':>6} {'district':>9} {'category':>9} {'both':>6}")
    for (lang, cond), items in rows.items():
        d = c = b = errs = words = rerrs = 0
        for r in items:
            x = extract(r["text"], at, source="voice")
            e, n = wer(r["ref"], r["text"])
            errs, words = errs + e, words + n
            rerrs += wer(r["ref"], r["text"], roman=True)[0]
            d += x.district == r["district"]
            c += x.category == r["category"]
            b += x.district == r["district"] and x.category == r["category"]
            if show and not (x.district == r["district"] and x.category == r["category"]):
                print(f"   want {r['district']}/{r['category']} got {x.district}/{x.category}: {r['text']}")
        n = len(items)
        print(f"{lang:4} {cond:11} {n:3d} {100 * errs / max(words, 1):5.1f}% {100 * rerrs / max(words, 1):5.1f}% "
              f"{100 * d / n:8.0f}% {100 * c / n:8.0f}% "
              f"{100 * b / n:5.0f}%")


def main() -> None:
    """Run the benchmark and print a table per language and condition."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N texts per language")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--show", action="store_true", help="print every transcript")
    ap.add_argument("--langs", default="en,hi", help="languages to run (en,hi)")
    ap.add_argument("--save", help="write every transcript to this JSON-lines file")
    ap.add_argument("--rescore", help="score the transcripts saved by --save with the current NLU (no audio)")
    args = ap.parse_args()
    conditions = args.conditions.split(",")

    if args.rescore:
        rescore(Path(args.rescore), args.show)
        return
    from voice.audio import decode
    from voice.transcribe import get_transcriber

    try:
        from bot.nlu import extract
    except ImportError as e:
        extract = None
        print(f"bot.nlu.extract not available ({e}): district/category accuracy skipped")
    at = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    tr = get_transcriber()
    print(f"backend {tr.name}; beam {tr.beam_size}; {tr.cpu_threads} threads")
    sets = {lang: items[: args.limit or None] for lang, items in (("en", EN), ("hi", HI))
            if lang in args.langs.split(",")}
    saved = open(args.save, "a", encoding="utf-8") if args.save else None  # noqa: SIM115
    if extract is not None:
        for lang, items in sets.items():
            d = sum(extract(t, at).district == dk for t, dk, _ in items)
            c = sum(extract(t, at).category == ck for t, _, ck in items)
            print(f"NLU on the reference text ({lang}): district {d}/{len(items)}, category {c}/{len(items)}")
    print(f"{'lang':4} {'condition':11} {'n':>3} {'WER':>6} {'rWER':>6} {'district':>9} {'category':>9} {'both':>6} "
          f"{'lang ok':>7} {'conf':>5} {'RTF':>5}")
    for lang, items in sets.items():
        for cond in conditions:
            errs = words = rerrs = dist_ok = cat_ok = both = lang_ok = 0
            conf = audio_s = wall = 0.0
            for text, dk, ck in items:
                path = make_audio(text, lang, cond)
                samples = decode(path).samples
                t0 = time.perf_counter()
                t = tr.transcribe(samples)
                wall += time.perf_counter() - t0
                audio_s += t.duration
                e, n = wer(text, t.text)
                errs, words = errs + e, words + n
                rerrs += wer(text, t.text, roman=True)[0]
                lang_ok += t.language == lang
                conf += t.confidence
                if extract is not None:
                    r = extract(t.text, at, source="voice")
                    dist_ok += r.district == dk
                    cat_ok += r.category == ck
                    both += r.district == dk and r.category == ck
                if saved:
                    saved.write(json.dumps({"lang": lang, "cond": cond, "ref": text, "district": dk, "category": ck,
                                            "text": t.text, "language": t.language, "confidence": t.confidence,
                                            "seconds": t.duration}, ensure_ascii=False) + "\n")
                    saved.flush()
                if args.show:
                    print(f"   [{cond} {t.language} {t.confidence:.2f}] {t.text}")
            n = len(items)
            pct = (lambda k, n=n: f"{100 * k / n:5.0f}%") if extract is not None else (lambda k: "    -")
            print(f"{lang:4} {cond:11} {n:3d} {100 * errs / max(words, 1):5.1f}% {100 * rerrs / max(words, 1):5.1f}% "
                  f"{pct(dist_ok):>9} {pct(cat_ok):>9} "
                  f"{pct(both):>6} {100 * lang_ok / n:6.0f}% {conf / n:5.2f} {wall / audio_s:5.2f}", flush=True)


if __name__ == "__main__":
    main()
