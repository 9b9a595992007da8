"""Integrity of the knowledge base against the domain, rules, NLU data and the articles."""

import re
from typing import Dict, List, Set

import pytest

from actions import knowledge
from nlu_components.intents import CRISIS_INTENTS
from tests.conftest import ROOT, SHARED_SOURCES, nlu_examples, read_yaml

ANSWER_KEYS = sorted(knowledge.load().answers)

INDEX = read_yaml(SHARED_SOURCES / "index.yml")["sources"]
ARTICLES = {s["id"]: (SHARED_SOURCES / s["file"]).read_text(encoding="utf-8") for s in INDEX}
HELPLINE_NUMBERS = {"988", "911"}


def answering_intents() -> Set[str]:
    """Intents whose rule runs action_answer."""
    intents = set()
    for path in (ROOT / "data" / "rules").glob("*.yml"):
        for rule in read_yaml(path).get("rules", []):
            steps = rule["steps"]
            for step, following in zip(steps, steps[1:]):
                if following.get("action") == "action_answer":
                    # a step is one intent, or an `or:` of several (the one answer rule)
                    intents.update(s["intent"] for s in step.get("or", [step]) if "intent" in s)
    return intents


def test_one_set_of_topic_names_groups_examples_rules_and_answers():
    """data/nlu/<topic>.yml holds every example of its intents; knowledge/answers/<topic>.yml
    their answers; data/rules/ has the one answer rule plus rules named after topics."""
    topics = {p.stem for p in (ROOT / "data" / "nlu").glob("*.yml")} - {"entities"}
    topic_of: Dict[str, str] = {}
    for topic in sorted(topics):
        for intent in nlu_examples([ROOT / "data" / "nlu" / f"{topic}.yml"]):
            assert topic_of.setdefault(intent, topic) == topic, f"{intent} is in {topic_of[intent]} and {topic}"
    for path in (ROOT / "knowledge" / "answers").glob("*.yml"):
        assert path.stem in topics
        for key in read_yaml(path)["answers"]:
            assert topic_of.get(key.split("/")[0]) == path.stem, f"{key} answered in {path.name}"
    assert {p.stem for p in (ROOT / "data" / "rules").glob("*.yml")} <= topics | {"answers"}


def words(text: str) -> List[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'"))


def test_every_answering_intent_has_an_answer_and_every_answer_an_intent(kb, domain):
    answering = answering_intents()
    base_keys = {key.split("/")[0] for key in kb.answers}
    assert answering == base_keys
    assert answering <= set(domain["intents"])


def test_sources_match_the_shared_index_exactly(kb):
    assert {s["id"]: (s["title"], s["publisher"]) for s in INDEX} == {
        s.id: (s.title, s.publisher) for s in kb.sources.values()
    }


@pytest.mark.parametrize("key", ANSWER_KEYS)
def test_answer_cites_known_sources_and_has_a_topic_and_help(kb, key):
    answer = kb.answers[key]
    assert answer.sources, f"{key} cites nothing"
    assert set(answer.sources) <= set(kb.sources)
    assert len(answer.sources) == len(set(answer.sources))
    assert answer.label.strip()
    assert answer.help in kb.seek_help


def figures_not_in(text: str, cited: str) -> List[str]:
    """The figures (two digits or more, helpline numbers aside) of `text` that `cited` lacks."""
    cited = cited.replace(",", "")
    figures = [f.replace(",", "") for f in re.findall(r"\d+(?:[.,]\d+)*", text)]
    return [f for f in figures if len(f) >= 2 and f not in HELPLINE_NUMBERS and f not in cited]


@pytest.mark.parametrize("key", ANSWER_KEYS)
def test_every_figure_in_an_answer_is_in_a_cited_article_or_reference(kb, key):
    """A number that no cited article or cited safety reference contains is an invented or mis-cited fact."""
    answer = kb.answers[key]
    cited = " ".join(ARTICLES[s] for s in answer.sources)
    cited += " " + " ".join(f.text for r in answer.safety_refs for f in kb.references[r].facts)
    assert figures_not_in(answer.text, cited) == [], f"{key}: not in {answer.sources} or {answer.safety_refs}"


def test_the_figure_check_counts_only_cited_references(kb):
    fact = "Withdrawal can last 14 months."  # a made-up figure, in no article
    assert figures_not_in(fact, ARTICLES["essence"]) == ["14"]
    assert figures_not_in(fact, ARTICLES["essence"] + " " + fact) == []


def test_safety_references_are_recorded_with_title_publisher_date_and_facts(kb):
    assert kb.references, "knowledge/references.yml is missing or empty"
    for ref in kb.references.values():
        assert ref.title.strip() and ref.publisher.strip() and ref.cite_as.strip(), ref.id
        assert re.search(r"\b(?:19|20)\d\d\b", ref.date), f"{ref.id}: date {ref.date!r}"
        assert ref.facts, f"{ref.id} has no facts"
        assert len({f.id for f in ref.facts}) == len(ref.facts), ref.id
        for fact in ref.facts:
            assert 3 <= len(words(fact.text)) <= 40, f"{ref.id}/{fact.id}: a fact is one short statement"


def test_every_cited_reference_exists_and_every_reference_is_cited(kb, domain):
    cited = {r for a in kb.answers.values() for r in a.safety_refs}
    assert cited <= set(kb.references), cited - set(kb.references)
    for answer in kb.answers.values():
        assert len(answer.safety_refs) == len(set(answer.safety_refs)), answer.key
    backing = {r.id for r in kb.references.values() if r.backs}
    for ref in kb.references.values():
        assert set(ref.backs) <= set(kb.crisis_lines) and set(ref.backs) <= set(domain["responses"]), ref.id
    assert set(kb.references) == cited | backing, f"uncited: {set(kb.references) - cited - backing}"


def test_safety_references_are_not_articles_and_do_not_stand_alone(kb):
    """A reference corrects or warns beside the articles; it never carries an answer on its own."""
    assert not set(kb.references) & set(kb.sources)
    for answer in kb.answers.values():
        if answer.safety_refs:
            assert answer.sources, answer.key


@pytest.mark.parametrize("key", ANSWER_KEYS)
def test_answers_paraphrase_rather_than_copy_the_articles(kb, key):
    """No run of 8 words is lifted from any article (article titles aside)."""
    text = kb.answers[key].text
    for source in kb.sources.values():
        text = text.replace(source.title, " ")
    answer_words = words(text)
    for source_id, article in ARTICLES.items():
        article_text = " ".join(words(article))
        for i in range(len(answer_words) - 7):
            run = " ".join(answer_words[i : i + 8])
            assert run not in article_text, f"{key} copies '{run}' from {source_id}"


def test_article_phone_numbers_of_private_providers_are_never_used(kb):
    private = {re.sub(r"\D", "", s["phone"]) for s in INDEX if s.get("phone")}
    published = " ".join(
        p.read_text(encoding="utf-8") for p in [*sorted((ROOT / "knowledge").rglob("*.yml")), ROOT / "domain.yml"]
    )
    digits = re.sub(r"\D", "", published)
    assert private and not any(number in digits for number in private)


def test_substance_answers_exist_and_substances_are_known_entities(kb):
    entities = read_yaml(ROOT / "data" / "nlu" / "entities.yml")["nlu"]
    lookup = next(item for item in entities if item.get("lookup") == "substance")
    known = {line.strip()[2:] for line in lookup["examples"].splitlines() if line.strip()}
    assert set(kb.substances) <= known
    assert set(kb.substances.values()) <= set(kb.answers)
    assert "ask_interaction/unlisted" in kb.answers


def test_seek_help_prompts_name_existing_helplines(kb):
    for prompt in kb.seek_help.values():
        assert prompt.lines and set(prompt.lines) <= set(kb.helplines)


def test_default_helplines_are_the_public_us_lines(kb):
    numbers = {line.number for line in kb.helplines.values()}
    assert {"988", "911", "1-800-222-1222", "1-800-662-4357"} <= numbers


PHONE_NUMBER = re.compile(r"(?<![\d-])(?:\d-\d{3}-\d{3}-\d{4}|\d{3})(?![\d-])")


def variants(domain, response: str):
    """(language, variant) for each variant of a domain response: "es" by slot condition, else "en"."""
    for variant in domain["responses"][response]:
        conditions = {c["name"]: c["value"] for c in variant.get("condition") or []}
        yield conditions.get("language", "en"), variant


def named_responses(kb) -> Dict[str, List[str]]:
    return {**kb.crisis_lines, **kb.reply_lines}


def test_crisis_replies_are_the_crisis_intents_replies(kb, domain):
    assert kb.crisis_intents == CRISIS_INTENTS  # the helplines data names the intents the detector sets
    assert set(kb.crisis_intents) <= set(domain["intents"])
    assert {language for r in kb.crisis_lines for language, _ in variants(domain, r)} == {"en", "es"}


@pytest.mark.parametrize(
    "response",
    sorted(read_yaml(ROOT / "knowledge" / "helplines.yml")["crisis_lines"])
    + sorted(read_yaml(ROOT / "knowledge" / "helplines.yml")["reply_lines"]),
)
def test_replies_name_their_helplines_in_order_and_no_other_number(kb, domain, response):
    lines = [kb.helplines[line] for line in named_responses(kb)[response]]
    for language, variant in variants(domain, response):
        text = variant["text"]
        for line in lines:
            assert line.number in text, f"{response} ({language}) lacks {line.name}"
            assert language in line.languages, f"{response} ({language}) names {line.name}, which has no {language}"
        assert set(PHONE_NUMBER.findall(text)) <= {line.number for line in lines}, f"{response} ({language})"
        if response in kb.crisis_lines:
            first = lines[0].number
            assert all(text.index(first) <= text.index(line.number) for line in lines), (
                f"{response} ({language}) must name {first} first"
            )


@pytest.mark.parametrize("response", sorted(read_yaml(ROOT / "knowledge" / "helplines.yml")["crisis_lines"]))
def test_crisis_buttons_call_or_text_the_named_lines(kb, domain, response):
    lines = [kb.helplines[line] for line in kb.crisis_lines[response]]
    allowed = {f"tel:{line.call}" for line in lines} | {f"sms:{line.text}" for line in lines if line.text}
    for language, variant in variants(domain, response):
        payloads = [button["payload"] for button in variant.get("buttons") or []]
        assert payloads and set(payloads) <= allowed, f"{response} ({language}): {payloads}"
        assert payloads[0] == f"tel:{lines[0].call}", "the first button calls the first line"


def test_spanish_replies_say_how_to_reach_988_in_spanish(domain):
    for response in ("utter_crisis_suicide", "utter_crisis_both", "utter_other_language"):
        spanish = dict(variants(domain, response))["es"]["text"]
        assert "oprima 2" in spanish and "AYUDA" in spanish, response


def test_greeting_carries_the_not_medical_advice_notice(domain):
    greet = domain["responses"]["utter_greet"][0]["text"]
    assert "not medical advice" in greet and "911" in greet and "988" in greet


# Where the articles disagree, the answer says so and names each article
# (the places the content review found, P1, P2, P3, P6, P8, and the earlier ones).
DISAGREEMENTS = {
    "ask_duration": ["essence", "dependency", "boardwalk"],
    "ask_addiction_medication": ["aac", "essence"],
    "ask_dosage": ["rehab_directory", "boardwalk"],
    "ask_uses": ["boardwalk", "dependency", "rehab_directory"],
    "ask_long_term_use": ["boardwalk", "dependency", "rehab_directory"],
    "ask_withdrawal_duration": ["rehab_directory", "dependency", "aac"],
}


def test_articles_disagreements_are_shown_with_each_side_cited(kb):
    for key, sides in DISAGREEMENTS.items():
        text = kb.answers[key].text
        assert re.search(r"disagree|differ|give different", text), key
        for side in sides:
            assert kb.sources[side].title in text


# A dose figure in a dosing context: a number of mg (or pills) next to a daily amount,
# a limit or a start, or any "N times a day" schedule. Naming the strengths the
# tablets come in is allowed; anything that reads as an amount to take is not.
DOSE_AMOUNT = re.compile(r"\d+(?:\.\d+)?\s*(?:mg|milligrams?|pills?|tablets?)\b", re.I)
DOSING_WORDS = re.compile(
    r"\b(?:a|per|each|every) day\b|\bdaily\b|\bmax(?:imum)?\b|\blimits?\b|\bexceed\b|\bgo over\b"
    r"|\bstart(?:s|ing)?\s+(?:at|with|on)\b|\bstarting dose\b|\bup to\b|\btotal\b|\btake\b|\btaken\b",
    re.I,
)
SCHEDULE = re.compile(
    r"\b(?:once|twice|three times|four times|\d+ times)\b[^.;\n]{0,30}\b(?:a|per|each) day\b"
    r"|\b(?:once|twice|three times) daily\b|\bevery \d+ hours\b",
    re.I,
)
STRENGTH = re.compile(r"\bstrengths?\b|\bcomes? in\b", re.I)


def dose_statements(text: str) -> List[str]:
    """The sentences of `text` that read as a dose or a schedule to follow."""
    found = []
    for sentence in re.split(r"(?<=[.;!])\s+|\n", text):
        amount = DOSE_AMOUNT.search(sentence)
        if SCHEDULE.search(sentence) or (amount and (DOSING_WORDS.search(sentence) or not STRENGTH.search(sentence))):
            found.append(sentence.strip())
    return found


@pytest.mark.parametrize(
    "sentence",
    [
        # the ask_dosage bullets the content review (P1) flagged, as they were
        '- For panic disorder, "What Is Klonopin?" says treatment starts at 0.25 mg and should not go over 4 mg a day; '
        '"How Does Klonopin Work?" gives 1 to 4 mg as the limit.',
        '- For seizure disorders, "How Does Klonopin Work?" gives 20 mg as the maximum.',
        "- Because it lasts a long time, it is usually taken once or twice a day, and rarely three times.",
        "Most adults take 2 mg.",
        "It is taken twice a day.",
    ],
)
def test_the_dose_check_catches_doses_and_schedules(sentence):
    assert dose_statements(sentence)


def test_the_dose_check_allows_naming_the_strengths():
    assert dose_statements("- It comes as a tablet, in strengths from 0.25 mg to 2 mg.") == []


@pytest.mark.parametrize("key", ANSWER_KEYS)
def test_no_answer_reads_as_a_dose_to_take(kb, key):
    """Starting doses, maximums and schedules read as a personal range (review P1)."""
    assert dose_statements(kb.answers[key].text) == [], key


# What someone after a stronger or faster effect wants to hear (review P9).
CONFIRMS_THE_EFFECT = re.compile(
    r"\b(?:much |act |acts |work |works )?faster\b|\bhigh stronger\b|\bstronger (?:high|effect)\b"
    r"|\bboost(?:s|ing)? (?:the|a|their|another) (?:effect|high)\b|\bfeel (?:it|a) (?:more|stronger)\b",
    re.I,
)


MISUSE_REPLIES = ["request_misuse", "ask_risky_use", "ask_interaction/opioids", "ask_interaction/alcohol"]


@pytest.mark.parametrize("key", MISUSE_REPLIES + ["ask_overdose"])
def test_misuse_replies_never_confirm_the_effect_sought(kb, key):
    match = CONFIRMS_THE_EFFECT.search(kb.answers[key].text)
    assert not match, f"{key}: {match.group(0)!r}"


@pytest.mark.parametrize("key", MISUSE_REPLIES)
def test_misuse_replies_lead_with_the_harm(kb, key):
    first = kb.answers[key].text.splitlines()[0].lower()
    assert re.search(r"danger|kill|death|can't help|warn", first), f"{key} opens with: {first}"


def test_the_misuse_check_catches_the_old_wording():
    assert CONFIRMS_THE_EFFECT.search("Snorting makes it act much faster and adds to the danger.")
    assert CONFIRMS_THE_EFFECT.search("Some people who use opioids take Klonopin to make their high stronger.")
    assert CONFIRMS_THE_EFFECT.search("Mixing it with alcohol to boost the effect raises the risk")


OVERDOSE_ADVICE = {
    "en": ["naloxone", "does not reverse Klonopin", "on their side"],
    "es": ["naloxona", "no revierte el Klonopin", "de lado"],
}


@pytest.mark.parametrize("response", ["utter_crisis_emergency", "utter_crisis_both"])
def test_overdose_crisis_replies_give_naloxone_and_the_recovery_position(domain, response):
    """Review P10: naloxone when opioids may be involved (safe, though it does not reverse Klonopin)."""
    for language, variant in variants(domain, response):
        for words in OVERDOSE_ADVICE[language]:
            assert words.lower() in variant["text"].lower(), f"{response} ({language}) lacks {words!r}"


CALL_OR_TEXT = re.compile(r"\b(call or text|text|call|llame|envíe|texto)\b", re.I)


def offers_911_by_text(text: str) -> bool:
    """True if the verb nearest before a 911 in its sentence offers texting ("Call or text: ... 911")."""
    for sentence in re.split(r"[.;\n]", text):
        for match in re.finditer(r"(?<!\d)911(?!\d)", sentence):
            verbs = CALL_OR_TEXT.findall(sentence[: match.start()])
            if verbs and verbs[-1].lower() in {"call or text", "text", "envíe", "texto"}:
                return True
    return False


def test_the_text_to_911_check_catches_the_old_crisis_prompt():
    assert offers_911_by_text(
        "you are not alone. Call or text: 988 Suicide & Crisis Lifeline 988, Emergency services 911."
    )
    assert not offers_911_by_text("Call or text 988, or call 911 if you are in danger now: Emergency services 911.")


def test_911_is_offered_for_calling_only(kb, domain):
    """988 takes texts; text-to-911 is not available everywhere (review P10)."""
    texts = [v["text"] for r in domain["responses"] for _, v in variants(domain, r) if "text" in v]
    texts += [kb.render_seek_help(kind) for kind in kb.seek_help]
    texts += [a.text for a in kb.answers.values()]
    texts += [kb.render_channel_reply(key, limit=2000) for key in kb.channel_replies]
    assert [t for t in texts if offers_911_by_text(t)] == []
