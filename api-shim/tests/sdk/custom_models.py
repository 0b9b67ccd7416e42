#!/usr/bin/env python3
"""Drives SpeechBatch's customization API with the public IBM Watson SDK (PyPI ibm-watson).

IBM's custom-language-model tutorial, step by step, through `ibm_watson.SpeechToTextV1` with
`BasicAuthenticator('apikey', KEY)`: base models, create a model, add a corpus and wait for its
analysis, list the corpus's out-of-vocabulary words, add words (several at once and one by one),
read and delete a word, train and wait until the model is available, find it in the list, and
the errors an SDK user sees as `ApiException` (404 unknown id, 400 bad input, 409 busy).

    custom_models.py --phase create --url URL [--url URL2 ...] --apikey KEY \
        --corpus corpus.txt [--words words.json]
        leaves one trained model and prints {"ok": true, "customization_id": ID, ...}
    custom_models.py --phase delete --url URL --apikey KEY --id ID
        deletes the model; afterwards it answers 404
    custom_models.py --phase all ...      both, one after the other

URL is the service URL as an SDK user configures it: `http://HOST:PORT` (routes at the root)
or `http://HOST:PORT/speech-to-text/api` (the interface's prefix). The first URL runs the
tutorial; every URL is checked with list_models. The key may come from SPEECHBATCH_API_KEY.

Standard library and the SDK only. The last line on stdout is one JSON object; progress goes to
stderr. Exits non-zero, saying what differed, on the first mismatch.
"""

import argparse
import json
import os
import re
import sys
import time
import traceback
import uuid
import warnings

from ibm_cloud_sdk_core import ApiException
from ibm_cloud_sdk_core.authenticators import BasicAuthenticator
from ibm_watson import SpeechToTextV1
from ibm_watson.speech_to_text_v1 import CustomWord

BASE = "en-US_BroadbandModel"
BASE_MODELS = ["en-US_BroadbandModel", "en-US_NarrowbandModel", "en-US_ShortForm_NarrowbandModel"]
# The corpus's product names, none of them in the base vocabulary (testdata/custom/corpus.txt).
DEFAULT_OOV = "Zentraphone,Quorbit,Kalvani,Nimbra,Orlessa,Veltrix,MyVeltrix,eSIM"
POLL_S = 0.25

warnings.simplefilter("ignore", DeprecationWarning)


class Mismatch(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Mismatch(what)


def log(msg):
    print(f"custom_models: {msg}", file=sys.stderr, flush=True)


def client(url, key):
    stt = SpeechToTextV1(authenticator=BasicAuthenticator("apikey", key))
    stt.set_service_url(url)
    return stt


def expect_error(code, what, call, *args, **kwargs):
    """Calls the SDK method; it must raise ApiException with status `code` (or one of `code`)."""
    codes = code if isinstance(code, tuple) else (code,)
    try:
        r = call(*args, **kwargs)
    except ApiException as e:
        check(e.status_code in codes,
              f"{what}: expected HTTP {'/'.join(map(str, codes))}, got {e.status_code}: {e.message}")
        check(isinstance(e.message, str) and e.message and e.message != "Unknown error",
              f"{what}: the error body has no message the SDK can read (an 'error' field): {e.message!r}")
        return e
    raise Mismatch(f"{what}: expected HTTP {'/'.join(map(str, codes))}, got {r.get_status_code()}: {r.get_result()}")


def wait(what, timeout, probe):
    """Polls `probe()` every POLL_S until it returns a non-None value; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        got, last = probe()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise Mismatch(f"{what}: not there after {timeout} s; last seen {last}")
        time.sleep(POLL_S)


def words_of(listing):
    check(isinstance(listing, dict) and isinstance(listing.get("words"), list),
          f'a word listing is {{"words": [...]}}: {listing}')
    return listing["words"]


def by_lower(words):
    out = {}
    for w in words:
        out.setdefault(w["word"].lower(), []).append(w)
    return out


def corpus_counts(text, names):
    """How often each name occurs in the corpus as a whole word (letters case-sensitive as written,
    so that 'Veltrix' does not count inside 'MyVeltrix')."""
    return {n: len(re.findall(r"(?<![A-Za-z0-9'])" + re.escape(n) + r"(?![A-Za-z0-9])", text)) for n in names}


def check_models(stt, url):
    models = stt.list_models().get_result()
    check(isinstance(models.get("models"), list), f"{url}: list_models: {models}")
    named = {m.get("name"): m for m in models["models"]}
    for name in BASE_MODELS:
        check(name in named, f"{url}: list_models lacks {name}: {sorted(named)}")
        feats = named[name].get("supported_features")
        check(isinstance(feats, dict) and isinstance(feats.get("custom_language_model"), bool),
              f"{url}: {name}: supported_features.custom_language_model missing: {named[name]}")
    for name in ["en-US_BroadbandModel", "en-US_NarrowbandModel"]:
        check(named[name]["supported_features"]["custom_language_model"] is True,
              f"{url}: {name} does not support custom language models: {named[name]}")
    m = stt.get_model(BASE).get_result()
    check(m.get("name") == BASE and m.get("rate") == 16000 and m.get("language") == "en-US",
          f"{url}: get_model({BASE}): {m}")
    check(m["supported_features"]["custom_language_model"] is True, f"{url}: get_model({BASE}): {m}")
    expect_error(404, f"{url}: get_model of an unknown model", stt.get_model, "xx-XX_NoSuchModel")


def phase_create(stt, args):
    t0 = time.monotonic()
    timings = {}
    oov = [n for n in args.oov.split(",") if n]
    corpus_text = open(args.corpus, encoding="utf-8").read()
    counts = corpus_counts(corpus_text, oov)
    check(all(counts.values()), f"--oov names missing from the corpus: {counts}")

    # Errors before there is anything.
    unknown = str(uuid.uuid4())
    expect_error(404, "get_language_model of an unknown id", stt.get_language_model, unknown)
    expect_error(404, "list_corpora of an unknown id", stt.list_corpora, unknown)
    expect_error(404, "list_words of an unknown id", stt.list_words, unknown)
    expect_error(404, "train_language_model of an unknown id", stt.train_language_model, unknown)
    expect_error(404, "delete_language_model of an unknown id", stt.delete_language_model, unknown)
    expect_error(400, "create_language_model on an unknown base model", stt.create_language_model,
                 "sdk bad base", "en-US_NoSuchModel")

    # A model with nothing in it cannot be trained; deleting it works.
    r = stt.create_language_model("sdk empty", BASE)
    check(r.get_status_code() == 201, f"create_language_model: HTTP {r.get_status_code()}")
    empty = r.get_result()["customization_id"]
    m = stt.get_language_model(empty).get_result()
    check(m.get("status") == "pending", f"a new model is pending: {m}")
    expect_error(400, "train_language_model of a model with no words", stt.train_language_model, empty)
    stt.delete_language_model(empty)
    expect_error(404, "get_language_model after delete_language_model", stt.get_language_model, empty)

    # 1. Create the model.
    name = "sdk tutorial model"
    description = "Veltrix product names, created by the ibm-watson SDK"
    r = stt.create_language_model(name, base_model_name=BASE, description=description)
    check(r.get_status_code() == 201, f"create_language_model: HTTP {r.get_status_code()} {r.get_result()}")
    cid = r.get_result().get("customization_id")
    check(isinstance(cid, str) and re.fullmatch(r"[0-9a-f-]{36}", cid), f"customization_id: {r.get_result()}")
    log(f"created {cid}")
    m = stt.get_language_model(cid).get_result()
    for k, v in [("customization_id", cid), ("name", name), ("description", description),
                 ("base_model_name", BASE), ("language", "en-US"), ("status", "pending")]:
        check(m.get(k) == v, f"get_language_model: {k} should be {v!r}: {m}")
    check(isinstance(m.get("created"), str) and isinstance(m.get("versions"), list),
          f"get_language_model: created and versions: {m}")

    # 2. Add a corpus and wait for its analysis.
    t = time.monotonic()
    with open(args.corpus, "rb") as f:
        r = stt.add_corpus(cid, "corpus1", f)
    check(r.get_status_code() == 201, f"add_corpus: HTTP {r.get_status_code()} {r.get_result()}")

    def corpus_done():
        c = stt.get_corpus(cid, "corpus1").get_result()
        check(c.get("name") == "corpus1", f"get_corpus: {c}")
        check(c.get("status") in ("analyzed", "being_processed", "undetermined"), f"get_corpus status: {c}")
        check(c.get("status") != "undetermined" and "error" not in c, f"corpus analysis failed: {c}")
        return (c if c["status"] == "analyzed" else None), c

    c = wait("corpus1 analysed", args.timeout, corpus_done)
    timings["corpus_analysis_s"] = round(time.monotonic() - t, 3)
    check(isinstance(c.get("total_words"), int) and c["total_words"] >= len(corpus_text.split()) // 2,
          f"get_corpus total_words: {c}")
    check(isinstance(c.get("out_of_vocabulary_words"), int) and c["out_of_vocabulary_words"] >= len(oov),
          f"get_corpus out_of_vocabulary_words should count at least {len(oov)} names: {c}")
    corpora = stt.list_corpora(cid).get_result()
    check([x.get("name") for x in corpora.get("corpora", [])] == ["corpus1"], f"list_corpora: {corpora}")
    m = stt.get_language_model(cid).get_result()
    check(m.get("status") == "ready", f"a model with an analysed corpus is ready: {m}")

    # A second corpus of the same name needs allow_overwrite; reserved names are refused.
    with open(args.corpus, "rb") as f:
        expect_error((400, 409), "add_corpus of an existing name without allow_overwrite",
                     stt.add_corpus, cid, "corpus1", f)
    with open(args.corpus, "rb") as f:
        expect_error(400, "add_corpus named 'user' (reserved)", stt.add_corpus, cid, "user", f)
    with open(args.corpus, "rb") as f:
        r = stt.add_corpus(cid, "corpus1", f, allow_overwrite=True)
    check(r.get_status_code() == 201, f"add_corpus allow_overwrite=true: HTTP {r.get_status_code()}")
    wait("corpus1 analysed again", args.timeout, corpus_done)

    # 3. The corpus's out-of-vocabulary words: the product names, with counts and source.
    listed = words_of(stt.list_words(cid, word_type="corpora", sort="alphabetical").get_result())
    names = [w["word"] for w in listed]
    check(names == sorted(names) or names == sorted(names, key=str.lower),
          f"list_words sort=alphabetical is not sorted: {names}")
    low = by_lower(listed)
    for n in oov:
        entries = low.get(n.lower())
        check(entries, f"list_words(corpora) lacks the corpus word {n}: {names}")
        total = sum(e.get("count", 0) for e in entries)
        check(total == counts[n], f"{n}: count {total}, the corpus has it {counts[n]} times: {entries}")
        for e in entries:
            check(e.get("source") == ["corpus1"], f"{n}: source should be ['corpus1']: {e}")
            check(isinstance(e.get("sounds_like"), list), f"{n}: sounds_like is a list: {e}")
            check(isinstance(e.get("display_as"), str), f"{n}: display_as is a string: {e}")
    for common in ["the", "router", "thank"]:
        check(common not in low, f"list_words(corpora) lists {common!r}, a base-vocabulary word")
    by_count = words_of(stt.list_words(cid, word_type="corpora", sort="count").get_result())
    cs = [w.get("count", 0) for w in by_count]
    check(cs == sorted(cs, reverse=True), f"list_words sort=count is not by descending count: {cs}")

    # 4. Words: several at once (asynchronous), then one by one (synchronous).
    user_words = []
    if args.words:
        spec = json.load(open(args.words, encoding="utf-8"))
        user_words = spec["words"]
        r = stt.add_words(cid, [CustomWord(word=w["word"], sounds_like=w.get("sounds_like"),
                                           display_as=w.get("display_as")) for w in user_words])
        check(r.get_status_code() == 201, f"add_words: HTTP {r.get_status_code()} {r.get_result()}")

        def words_done():
            got = by_lower(words_of(stt.list_words(cid, word_type="user").get_result()))
            missing = [w["word"] for w in user_words if w["word"].lower() not in got]
            errors = [e for es in got.values() for e in es if "error" in e]
            check(not errors, f"add_words: words with errors: {errors}")
            return (got if not missing else None), missing

        wait("add_words processed", args.timeout, words_done)
        for w in user_words:
            got = stt.get_word(cid, w["word"]).get_result()
            # Letter case: a word may share its entry with the corpus's spelling of it.
            check(str(got.get("word", "")).lower() == w["word"].lower(), f"get_word({w['word']}): {got}")
            if w.get("sounds_like"):
                check(got.get("sounds_like") == w["sounds_like"], f"get_word({w['word']}) sounds_like: {got}")
            if w.get("display_as"):
                check(got.get("display_as") == w["display_as"], f"get_word({w['word']}) display_as: {got}")
            check("user" in (got.get("source") or []), f"get_word({w['word']}) source has 'user': {got}")
            if w["word"] in counts:  # the same spelling came from the corpus too
                check("corpus1" in got["source"], f"get_word({w['word']}) keeps the corpus as a source: {got}")

    r = stt.add_word(cid, "HHonors", sounds_like=["hilton honors", "h honors"], display_as="HHonors")
    check(r.get_status_code() == 201, f"add_word(HHonors): HTTP {r.get_status_code()} {r.get_result()}")
    got = stt.get_word(cid, "HHonors").get_result()
    check(got.get("word") == "HHonors" and got.get("sounds_like") == ["hilton honors", "h honors"]
          and got.get("display_as") == "HHonors" and got.get("source") == ["user"],
          f"get_word(HHonors): {got}")
    check(got.get("count", 0) == 0, f"get_word(HHonors): a user word no corpus has has count 0: {got}")

    expect_error(400, "add_word with a digit in sounds_like", stt.add_word, cid, "Badword",
                 sounds_like=["bad 4 word"])
    expect_error(400, "add_word with six sounds_like", stt.add_word, cid, "Badword",
                 sounds_like=["a b", "a c", "a d", "a e", "a f", "a g"])
    expect_error(400, "add_word with a sounds_like over 40 characters", stt.add_word, cid, "Badword",
                 sounds_like=["a" * 41])
    expect_error(404, "get_word of a word the model does not have", stt.get_word, cid, "Nosuchwordzz")

    # A word that is added, read, deleted, and gone. Its apostrophe travels percent-encoded in
    # the path (the SDK quotes path segments with safe=''): /words/O%27Tempwordzz.
    temp = "O'Tempwordzz"
    r = stt.add_word(cid, temp, sounds_like=["oh temp word"])
    check(r.get_status_code() == 201, f"add_word({temp}): HTTP {r.get_status_code()}")
    got = stt.get_word(cid, temp).get_result()
    check(got.get("word") == temp, f"get_word({temp}): the word as added, percent-decoded: {got}")
    stt.delete_word(cid, temp)
    expect_error(404, "get_word after delete_word", stt.get_word, cid, temp)

    user = by_lower(words_of(stt.list_words(cid, word_type="user").get_result()))
    want_user = {"hhonors"} | {w["word"].lower() for w in user_words}
    check(want_user <= set(user), f"list_words(user) lacks {sorted(want_user - set(user))}: {sorted(user)}")
    check(temp.lower() not in user, f"list_words(user) still has a deleted word: {sorted(user)}")
    check("quorbit" not in user, f"list_words(user) has a corpus-only word: {sorted(user)}")
    everything = by_lower(words_of(stt.list_words(cid).get_result()))
    check(want_user | {n.lower() for n in oov} <= set(everything),
          f"list_words() lacks words: {sorted(want_user | {n.lower() for n in oov} - set(everything))}")

    # 5. Train, and wait until the model is available.
    m = stt.get_language_model(cid).get_result()
    check(m.get("status") == "ready", f"before training the model is ready: {m}")
    t = time.monotonic()
    r = stt.train_language_model(cid)
    check(r.get_status_code() == 200, f"train_language_model: HTTP {r.get_status_code()} {r.get_result()}")
    # Training again while it trains is a conflict. Training may already be over by the time the
    # second request arrives; then the second one trains again (and is waited for below).
    try:
        stt.train_language_model(cid)
        train_twice = "second train accepted (first already finished)"
    except ApiException as e:
        check(e.status_code == 409, f"train_language_model while training: expected 409, got {e.status_code}: {e.message}")
        train_twice = 409
    log(f"training; second train: {train_twice}")

    def trained():
        m = stt.get_language_model(cid).get_result()
        check(m.get("status") in ("ready", "training", "available"), f"training status: {m}")
        if m["status"] == "training":
            p = m.get("progress")
            check(isinstance(p, (int, float)) and 0 <= p <= 100, f"training progress: {m}")
        return (m if m["status"] == "available" else None), m

    m = wait("model available", args.timeout, trained)
    timings["training_s"] = round(time.monotonic() - t, 3)
    check(m.get("progress") == 100, f"an available model has progress 100: {m}")
    check("error" not in m, f"an available model has no error: {m}")

    # 6. It is in the listing for its language.
    for lang in ("en-US", None):
        ls = stt.list_language_models(language=lang).get_result()
        ids = [x.get("customization_id") for x in ls.get("customizations", [])]
        check(cid in ids, f"list_language_models(language={lang}) lacks {cid}: {ls}")

    timings["total_s"] = round(time.monotonic() - t0, 3)
    return {"customization_id": cid, "train_twice": train_twice, "timings": timings}


def phase_delete(stt, cid):
    r = stt.delete_language_model(cid)
    check(200 <= r.get_status_code() < 300, f"delete_language_model: HTTP {r.get_status_code()}")
    expect_error(404, "get_language_model after delete_language_model", stt.get_language_model, cid)
    expect_error(404, "list_words after delete_language_model", stt.list_words, cid)
    expect_error(404, "delete_language_model twice", stt.delete_language_model, cid)
    ids = [x.get("customization_id") for x in stt.list_language_models().get_result().get("customizations", [])]
    check(cid not in ids, f"list_language_models still lists the deleted {cid}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", action="append", required=True,
                   help="service URL, e.g. http://127.0.0.1:1080/speech-to-text/api (repeatable)")
    p.add_argument("--apikey", default=os.environ.get("SPEECHBATCH_API_KEY"))
    p.add_argument("--phase", choices=["create", "delete", "all"], default="all")
    p.add_argument("--corpus", help="plain-text corpus (phase create)")
    p.add_argument("--words", help='{"words": [{"word", "sounds_like", "display_as"}]} (phase create)')
    p.add_argument("--oov", default=DEFAULT_OOV, help="comma-separated corpus words the base vocabulary lacks")
    p.add_argument("--id", help="the model to delete (phase delete)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each asynchronous step")
    args = p.parse_args()
    if not args.apikey:
        p.error("--apikey (or SPEECHBATCH_API_KEY) is required")
    if args.phase in ("create", "all") and not args.corpus:
        p.error("--corpus is required for phase create")
    if args.phase == "delete" and not args.id:
        p.error("--id is required for phase delete")

    summary = {"ok": False, "phase": args.phase}
    try:
        stt = client(args.url[0], args.apikey)
        if args.phase in ("create", "all"):
            for url in args.url:
                check_models(client(url, args.apikey), url)
            summary.update(phase_create(stt, args))
        if args.phase in ("delete", "all"):
            cid = args.id or summary["customization_id"]
            phase_delete(stt, cid)
            summary["customization_id"] = cid
            summary["deleted"] = True
        summary["ok"] = True
    except Mismatch as e:
        summary["error"] = str(e)
        log(f"MISMATCH: {e}")
    except ApiException as e:
        summary["error"] = f"unexpected ApiException: HTTP {e.status_code}: {e.message}"
        traceback.print_exc()
        log(summary["error"])
    except Exception as e:  # a missing field, a refused connection: say where
        summary["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc()
        log(summary["error"])
    print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
