"""A request as the planner reads it: clauses in order, each with the word that joined it to
the previous one ("then", "meanwhile", …) and whether it asks for something."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from knowledge.search.lexical import QUOTED, literally

#: Succeeding, said of a task: "the tests pass", "the build is green".
SUCCEEDING = r"(?:pass(?:es)?|succeeds?|(?:is|are) green|go(?:es)? through)"
#: Sentence and line ends, commas and the connectives that chain actions (the word is captured),
#: and a trailing condition that something succeeds ("deploy billing when the tests pass").
_BOUNDARY = re.compile(
    r"(?:(?<=[.;!?])\s+|\s*\n\s*|,?\s+(?P<word>and then|then|after that|afterwards|"
    r"after which|finally|lastly|and also|also|and|once|before|after|as well as|meanwhile|"
    r"while|but)\s+|"
    r",?\s+(?P<gate>when|if)\s+(?=[^,.;!?\n]{1,60}?\b" + SUCCEEDING + r"\W*(?:$|[.;!?\n]))|"
    r",(?!\s*(?:19|20)\d\d\b)\s+)",
    re.IGNORECASE,
)
#: Words at the start of a clause that say how it relates to the one before.
_LEADING = re.compile(
    r"^(?P<word>prior to (?:that|this|it)|before (?:that|this|it|then)|but first|"
    r"first of all|first(?:ly)?|second(?:ly)?|third(?:ly)?|next|then|after (?:that|this)|"
    r"afterwards|finally|lastly|last|once (?:that|this|it|you|we|I|everything|done|finished)[^,]*|"
    r"meanwhile|"
    r"in the mean ?time|"
    r"at the same time|in parallel|simultaneously|alongside|additionally|also|besides|"
    r"in addition|moreover|furthermore|and|"
    r"to (?:round|wrap|finish|top|sum) (?:things |it |everything |this )?(?:all )?(?:up|off))"
    r"\b[,\s]*",
    re.IGNORECASE,
)
#: Connectives after which a step may run alongside the previous one.
PARALLEL_WORDS = frozenset(
    {
        "meanwhile",
        "in the meantime",
        "in the mean time",
        "while",
        "at the same time",
        "in parallel",
        "simultaneously",
        "alongside",
    }
)
#: Connectives joining a clause mid-sentence that make it happen first ("call a taxi once the
#: books arrive": the arrival comes first).
_CONDITION_WORDS = frozenset({"after", "once", "when", "if"})
#: Connectives after which a clause that starts with its subject only says when ("book a cab
#: once the books arrive", "tidy up before they arrive", "while I relax, …"): an event, not
#: a request. What the speaker does next may be a step ("… before I proceed to borrow it").
_EVENT_WORDS = frozenset({"once", "before", "after", "while", "when", "until", "if"})
_SUBJECT_FIRST = re.compile(
    r"(?:the|a|an|my|our|his|her|their|its|this|that|these|those|it|they|he|she|"
    r"everything|everyone|all)\b",
    re.IGNORECASE,
)
#: A clause opening with a verb's -ing form ("working on the slides"), not a word ending so.
_GERUND_FIRST = re.compile(
    r"(?!(?:bring|ring|sing|string|swing|spring|thing)\b)[a-z]{2,}ing\b", re.IGNORECASE
)
#: Words for the speaker as the one something is done for ("… for me", "get us …").
_FOR_THE_SPEAKER = re.compile(r"\b(?:me|us)\b", re.IGNORECASE)
_SPEAKER_FIRST = re.compile(r"(?:i|we)(?:'m|'re| am| are)?\b", re.IGNORECASE)
#: Words that make a clause a time condition for what follows ("once the call is over, …").
_TIME_CONDITION = re.compile(
    r"(?:after|once|while|when|whenever|until)\b(?!\s+(?:that|this|which|it)\b)", re.IGNORECASE
)
#: A negation that opens a clause, not one that asks ("don't forget to …", "wouldn't it be
#: great if …").
_NEGATION = (
    r"(?:don'?t|do not|never|won'?t|will not|can'?t|cannot|couldn'?t|wouldn'?t|shouldn'?t|"
    r"(?:i'?m|i am|we'?re|we are) not)\b(?!\s+(?:forget|fail|hesitate|miss|it|you)\b)"
)
#: A clause that says what is not so or not wanted: it asks for nothing ("I won't be able
#: to pay my card", "I don't need my old laptop").
_NEGATED = re.compile(
    rf"^(?:(?:please|so|and|but|i|we|i'?d|i'?ll|we'?d),?\s+)*{_NEGATION}", re.IGNORECASE
)
#: A clause that says not to do something: "Don't deploy on a Friday", "never restart …".
_REFUSES = re.compile(
    r"^(?:please,?\s+)?(?:don'?t|do not|never)\b"
    r"(?!\s+(?:forget|fail|hesitate|miss)\b)",
    re.IGNORECASE,
)
#: A piece that is only a name ("New York", "John Doe", "Computer Science 101").
_ONLY_A_NAME = re.compile(
    r"^(?!I\b)(?:[A-Z][\w.'&-]*|\d[\w-]*)(?:\s+(?:of|the|and|de|[A-Z][\w.'&-]*|\d[\w-]*)){0,5}$"
)
#: An address to send to: an email address, a phone number, a channel or a handle.
ADDRESS = r"(?:[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+?\(?\d[\d\s().-]{5,}\d|[#@][\w.-]+)"
#: A piece that is only an address or a link ("… to my friend, bo@example.com").
_ONLY_AN_ADDRESS = re.compile(rf"^(?:{ADDRESS}|https?://\S+)$")
#: A phrase after a comma that says what the clause before is to say ("…, letting them know
#: 'the deploy is done'", "…, saying 'running late'").
_SAYS_WHAT = re.compile(
    r"^(?:(?:saying|stating|mentioning|letting\s+(?:\S+\s+){1,3}?know)\b|"
    r"telling\s+(?:\S+\s+){1,3}?(?=that\b|['\"‘“])|with\s+(?:the|a)\s+(?:message|note|text)\b)",
    re.IGNORECASE,
)
#: A phrase saying in what role something is ("as a note for later").
_AS_WHAT = re.compile(r"^as\s+(?:a|an|the|my|our|your)\s+(?:\w+\s*){1,4}$", re.IGNORECASE)
#: Something succeeding ("the tests pass", "the build is green").
_SUCCEEDS = r".*\b" + SUCCEEDING + r"\W*$"
#: A condition that something succeeds ("if the tests pass", "once the build is green").
_GATE = re.compile(r"^(?:if|once|when|after)\b" + _SUCCEEDS, re.IGNORECASE)
_SUCCESS = re.compile(_SUCCEEDS, re.IGNORECASE)
#: What a condition waits on to succeed, when it names it ("once the tests on kaizen pass" →
#: "the tests on kaizen"; not "when they pass").
_GATED = re.compile(
    r"^(?:(?:if|once|when|whenever|after)\s+)?(?P<what>(?:the|a|an|my|our|this|that|these|"
    r"those)\s+.+?)\s+" + SUCCEEDING + r"\W*$",
    re.IGNORECASE,
)
#: Being in a state a service or a build can be in ("is down", "'s not ready", "looks
#: unhealthy", "keeps crashing").
STATE = (
    r"(?:not\s+|still\s+|all\s+)?"
    r"(?:down|up|green|red|healthy|unhealthy|failing|crashing|flapping|erroring|restarting|"
    r"broken|slow|done|ready|finished|fine|ok|okay|complete|completed|deployed|merged|live|"
    r"stable|flaky|offline|degraded|unavailable|available)\b"
)
IN_A_STATE = r"(?:\b(?:is|are|was|were|looks?|seems?|keeps?)|'s)\s+" + STATE
#: Being over, said of an event or a task ("once that's taken care of", "when the meeting is
#: over"): a time, not a thing to act on.
_OVER = (
    r"(?:\b(?:is|are|was|were|has been|have been)|'s)\s+(?:all\s+)?(?:over|through|handled|"
    r"sorted(?: out)?|taken care of|out of the way|in place)\b"
)
#: A condition on how something went or is, run into what to do then with no comma ("if
#: they pass deploy kaizen", "if billing is down page the on-call"): group ``then`` starts
#: the second clause.
_GATE_THEN = re.compile(
    r"^(?:if|once|when|whenever|after)\b.{1,80}?(?:\b(?:pass(?:es)?|succeeds?|fails?|"
    r"breaks?|crash(?:es)?|go(?:es)? through)|"
    + IN_A_STATE
    + "|"
    + _OVER
    + r")\s+(?P<then>(?!(?:and|or|but|then|on|in|for|to|at|with|by|before|"
    r"after|the|a|an|this|that|it|them|me|us|first|today|now)\b)[a-z][\w'-]*\s+\S.*)$",
    re.IGNORECASE | re.DOTALL,
)
#: A condition on something named, and what it says must hold ("If billing is down" →
#: "billing is down"); one only on "it" or "they" says nothing alone.
_CONDITION = re.compile(
    r"^(?:if|when|whenever|once|in case)\s+"
    r"(?P<what>(?!(?:it|it's|they|they're|that|that's|this|these|those|we|we're|i|i'm|you|"
    r"you're)\b)\S.*?)\W*$",
    re.IGNORECASE | re.DOTALL,
)
#: A lower-case name as chat-ops requests write one ("auth", "checkout-api"), not a filler word.
_NAME_WORD = (
    r"^(?!(?:more|so|too|then|also|yes|no|all|everything|others?|again|soon|later|now|today|"
    r"tomorrow|tonight|here|there|me|us|them|it|that|this)\b)[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*"
)
#: One lower-case name after "and" ("check the status of billing and auth"): a clause of its
#: own, the same request for that name, not a word to drop.
_ONE_NAME = re.compile(_NAME_WORD + "$")
#: A lower-case name and at most a short phrase after it ("… and payments to 5 replicas"):
#: said to be understood with the clause before.
_A_NAME_AND_PHRASE = re.compile(_NAME_WORD + r"(?:\s+(?:to|in|on|at|for|from)\s+\S+(?:\s+\S+)?)?$")
#: A clause after "and" that is only a place-like preposition and up to four words it names
#: ("… and in Paris", "… and for auth too"); not a purpose ("and to stay ahead").
_ONLY_A_PHRASE = re.compile(
    r"^(?:(?:also|then)\s+)?(?P<word>in|for|of|on|at|from)\s+"
    r"(?P<what>(?!(?:a|an|the|my|our|your|this|that)\b)[^\s,;:]+(?:\s+[^\s,;:]+){0,3}?)"
    r"(?:\s+(?:too|as well|also))?\W*$",
    re.IGNORECASE,
)
#: A clause whose subject, not the speaker, is, looks or seems some way.
_DESCRIBES = re.compile(
    r"^(?!(?:i|i'm|i've|i'd|i'll|we|we're|we've|we'd|you|let's|there|it)\b)"
    r"(?:[\w'-]+\s+){1,4}?(?:is|are|was|were|looks?|seems?|has been|have been|keeps|kept)\b",
    re.IGNORECASE,
)
#: A clause saying the speaker does not want or need something.
_UNWANTED = re.compile(
    r"^(?:(?:so|and|but|since|because),?\s+)?(?:i|we)\s+"
    r"(?:(?:really\s+)?(?:don'?t|do not|no longer)\s+(?:need|want|require)"
    r"|(?:won'?t|will not)\s+need)\b",
    re.IGNORECASE,
)
#: "Post that" (after that), a connective when a comma follows it; "then post that" asks.
_POST_THAT = re.compile(r"^post (?:that|this)$", re.IGNORECASE)
#: A comma and more to say after it (not only "please" or "thanks").
_THEN_MORE = re.compile(r",\s*(?!(?:please|thanks?|thank you)\b)\w", re.IGNORECASE)
#: Leading words that put a clause before the one mentioned just before it.
_EARLIER_WORDS = ("prior to", "before")
#: A clause that asks someone for something: a request ("Could you …", "please …").
_REQUESTS = re.compile(
    r"\b(?:can|could|would|will) (?:you|we|u)\b|\bplease\b|\bhelp (?:me|us)?\b|\bassist\b|"
    r"\bi(?:'d| would)? (?:like|love|want|need) you to\b|"
    r"\blet'?s\b|\bmake sure\b|\bdon'?t forget\b|"
    r"\bif you (?:could|can|would|don'?t mind)\b|"
    r"\bwould be (?:great|helpful|nice|good|ideal|wonderful|lovely|useful|appreciated)"
    r"(?: (?:if|to)\b|\W*$)|"
    r"(?<!\bto )\bremind\b",  # "remind me to …" asks; "an alarm to remind me" says what for
    re.IGNORECASE,
)
#: A clause that asks by stating a want or need ("I need to pay my bill", "I'm looking to
#: sell my car").
_WANTS = re.compile(
    r"\bi(?:'d| would) (?:also )?(?:like|love|want|appreciate)\b|"
    r"\bi(?:'ll| will|'d| would|'m going to| am going to)? (?:also )?"
    r"(?:need|want|wish|must|have to)\b|"
    r"\bi'?m (?:also )?(?:looking|trying|hoping)\b|\bwe (?:also )?(?:need|should|must)\b",
    re.IGNORECASE,
)
MIN_WORDS = 2
#: The first word of a direct question: a question word or an inverted helping verb ("is
#: checkout healthy?", "did billing log any timeouts?"), not "how about …" or "do you …";
#: not "have": "have it delivered to 12 Elm St" asks for a delivery.
_DIRECT_QUESTION = re.compile(
    r"^(?:(?:what|which|who|whose|where|how)(?:['\u2019](?:s|re))?|whats|is|are|was|were|do|"
    r"does|did|has|will|any)\b(?!\s+(?:about|you|u|it possible)\b)",
    re.IGNORECASE,
)
#: A clause's subject alone: "also" after it is in the clause ("I'd also like to …").
_SUBJECT = re.compile(
    r"^(?:and\s+)?(?:i|i'm|i am|i'd|i'll|i've|we|we're|we'd|we'll|we've|you|they)$",
    re.IGNORECASE,
)
#: A clause that only says "before something" ("prior to our consultation", "before I go").
_BEFORE_PHRASE = re.compile(
    r"^(?:however,?\s+)?(?:prior to|before|ahead of)\s+(?:the|our|my|your|this|that|i|we)\s+\w+$",
    re.IGNORECASE,
)
#: Abbreviations whose full stop does not end a sentence ("Dr. Smith", "Main St. 5").
_ABBREVIATION = re.compile(
    r"\b(?:dr|mr|mrs|ms|prof|st|jr|sr|mt|ave|no|vs|etc|e\.g|i\.e|approx|dept|inc|ltd|co)\.$",
    re.IGNORECASE,
)
#: A street name's abbreviation ("Elm St.", "Park Ave."): a sentence end when a capital
#: follows ("… to Elm St. Once done, …"), unlike "St. Louis".
_STREET_END = re.compile(r"\b[A-Z][a-z]+\s+(?:St|Ave)\.$")
#: Initials ("U.S.", "U.K."): a sentence end only when a capital follows.
_INITIALS = re.compile(r"\b(?:[A-Z]\.){2,}$")
#: A statement of what the speaker has or is at, with no "to …" of something to do.
_CIRCUMSTANCE = re.compile(
    r"\s*(?:i(?:'ve| have)? got|i have|i(?:'m| am) (?:currently |now )?(?:at|attending))\b"
    r"(?!.*\bto\s+\w+)",
    re.IGNORECASE,
)
#: Words that carry no request of their own: courtesy, helping verbs, pronouns, fillers.
#: A clause made only of these ("Could you do that for me?") says what to do only together
#: with the clause before it.
_EMPTY_WORDS = frozenset(
    """a about actually afterwards again all also am an and any anything are arrange as assist
    assistance at be been before being both but by can could definitely do does doing done
    don't else even everything finally first for from further get go going great handle
    have having help helpful here how i i'd i'll i'm i've if in into is it it's its just
    kindly last lastly let let's like love manage maybe me mind more much my myself need
    next no not now of off oh ok okay on once or other our out over perhaps please possible
    possibly pretty quite really request right same see should situation so some something
    soon still stuff such sure take task tasks than thank thanks that that's the them then
    there these they thing things this those through to too up us very want was way we
    well were what when where whether which while will wish with would wouldn't you your""".split()  # noqa: SIM905
)


class Clause(BaseModel):
    """One clause of a request."""

    model_config = ConfigDict(frozen=True)

    text: str
    start: int
    end: int
    connective: str = ""
    """The word joining it to the clause before ("then", "meanwhile", "after", …), lower case."""
    asks: bool = True
    """Whether it asks for something (a question, a request, an imperative)."""
    stated: bool = False
    """Whether it asks only by stating a want or need ("I need to pay my bill", "I'm looking
    to sell my car"), not by a question, a request or an imperative."""
    earlier: bool = False
    """Whether it happens before the clause mentioned just before it ("Prior to that, …",
    "… once the books arrive")."""
    event: bool = False
    """Whether it only says when, joined by "once", "before", … and starting with its
    subject ("the books arrive" in "get me a cab once the books arrive?")."""
    first: bool = False
    """Whether it says it comes first ("First, …", "but first …")."""
    named: int = 0
    """Where names the clause only adds after a comma begin in its text ("my attorney, John
    Doe"), 0 when it adds none: they are values, not what the clause asks for."""
    question: bool = False
    """Whether it is a direct question ("is checkout healthy?", "what's the p99 latency of
    checkout?"), not a request put as one ("can you check billing?", "how about a
    rollback?", "is it possible to book one?")."""
    lead_in: str = ""
    """The clause before it, when this one says too little to be understood alone ("I might
    need a car on Monday" before "would you help me book?")."""

    @property
    def parallel(self) -> bool:
        return self.connective in PARALLEL_WORDS

    @property
    def only_states(self) -> bool:
        """Whether it only states what the speaker has or is at ("I have a meeting at 8",
        "I'm at a meeting downtown", "I've got a trip on Monday"), not a need ("I have a
        package to send")."""
        return not self.asks and bool(_CIRCUMSTANCE.match(self.text))

    @property
    def refuses(self) -> bool:
        """Whether it says what not to do or what is not wanted ("Don't deploy on a Friday",
        "never restart the api", "I don't need the staging deploy anymore"): no step of its
        own. Not being able to do something ("I won't be able to pay my card") is no refusal:
        it may be why the speaker asks."""
        return bool(_REFUSES.match(self.text) or _UNWANTED.match(self.text))

    @property
    def gates(self) -> bool:
        """Whether it makes what follows wait for something to succeed ("If the tests for
        kaizen pass, …", "once the build is green, …", "deploy once the tests pass"): that
        something is a step to run."""
        return not self.asks and (
            bool(_GATE.match(self.text)) or (self.event and bool(_SUCCESS.match(self.text)))
        )

    @property
    def condition(self) -> str:
        """What a clause that only sets a condition says must hold ("If billing is down" →
        "billing is down", "when the build fails" → "the build fails"); "" for any other
        clause, and for a condition on "it" or "they", which says nothing alone."""
        if self.asks:
            return ""
        found = _CONDITION.match(self.text)
        return found.group("what") if found is not None else ""

    @property
    def describes(self) -> bool:
        """Whether it only says how something other than the speaker is ("The checkout
        service is down in production", "Our staging cluster looks unhealthy since the
        deploy"): a state, not a request, whatever its words name."""
        return not self.asks and bool(_DESCRIBES.match(self.text))

    @property
    def only_says_as_what(self) -> bool:
        """Whether it only says in what role or for what the next thing is ("as a note for
        later", "as a preventive measure"): a phrase, not a request."""
        return not self.asks and bool(_AS_WHAT.match(self.text))

    @property
    def only_conditions(self) -> bool:
        """Whether it only says when what follows happens ("Once the meeting is over, …",
        "After selling, …", "While I'm attending, …"): the event is another step's or the
        speaker's, not one it asks for."""
        return not self.asks and (self.event or bool(_TIME_CONDITION.match(self.text)))

    @property
    def meaning(self) -> str:
        """The text to match tools against: the clause, after its lead-in when it has one,
        idioms written as what they mean and messages left out, quoted ("text Bob 'the build
        is green'") or reported ("send Dana a message that the build is green", "let #ops
        know that …" → "let #ops know a message"): the clause asks for a message, whatever
        the message says."""
        own = self.text[: self.named] if self.named else self.text
        return without_message(f"{self.lead_in}, {own}" if self.lead_in else own)

    @property
    def asked(self) -> str:
        """The text to embed: :attr:`meaning`, a direct question as a request to find its
        answer out. MiniLM matches a question poorly to the tool that answers it: "is
        checkout healthy" scores 0.14 against "Check the health status of a service",
        "find out is checkout healthy" 0.29. Only the embedding reads it so: the words
        "find out" point at no tool named with them. A condition that something succeeds
        reads as running it: "the tests on kaizen pass" scores 0.25 against "Run the test
        suite of a repository in CI", "run the tests on kaizen" 0.51."""
        if self.question:
            return asked_as_request(self.meaning)
        if self.gates:
            gated = _GATED.match(self.meaning)
            if gated is not None:  # "… once the tests on kaizen pass": they are to run
                return f"run {gated.group('what')}"
        return self.meaning


def asked_as_request(question: str) -> str:
    """A direct question as the request it makes of the bot: "find out what's the p99
    latency of checkout"; a yes/no question in the order of a statement ("is checkout
    healthy" → "find out if checkout is healthy": 0.35 against "Check the health status of a
    service", 0.29 as asked)."""
    inverted = _YES_NO.match(question)
    if inverted is not None:
        subject, verb, rest = inverted.group("subject", "verb", "rest")
        return f"find out if {subject} {verb.lower()} {rest}"
    return f"find out {question}"


#: A yes/no question on how something is: the verb, a one-word subject (maybe after "the"),
#: what is asked of it ("is checkout healthy", "are the builds green").
_YES_NO = re.compile(
    r"^(?P<verb>is|are|was|were)\s+(?P<subject>(?:(?:the|a|an|my|our)\s+)?[\w.-]+)\s+"
    r"(?P<rest>\S.*)$",
    re.IGNORECASE,
)


#: A quoted value of this many words or more is a message (what to write), not a title.
MESSAGE_WORDS = 4
#: A word for telling, after which "that …" reports a message ("a message that …", "let them
#: know that …", "an email indicating that …").
TELLING = (
    r"\b(?:message|note|text|e-?mail|sms|reminder|notification|tell(?:ing)?|inform(?:ing)?|"
    r"notify(?:ing)?|remind(?:ing)?|post(?:ing)?|announc(?:e|ing)|saying|stating|indicating|"
    r"mentioning|know)\b"
    r"(?:[^.;:'\"]|\.(?=\S)){0,40}?\bthat\s+"  # not past a sentence end ("ann@x.io" is none)
)
#: A word for telling or posting, then a colon: what follows is a message ("post to #dev:
#: done"), when :func:`said_after_colon` finds one.
_TELLING_COLON = re.compile(
    r"\b(?:post(?:ing)?|send(?:ing)?|say(?:ing)?|write|reply|comment|tell(?:ing)?|message|"
    r"text|e-?mail|sms|note|announce|notify|inform|ping)\b[^:.;]{0,40}:\s",
    re.IGNORECASE,
)
#: The start of what follows a colon when it labels an address or a quote, not a text.
_NOT_SAID = re.compile(r"^(?:['\"\u2018\u201c]|\S*[@#/\d])")
#: A reported message in a clause: what it says runs to the end of the clause.
_REPORTED = re.compile(TELLING + r"(?P<said>.+)$", re.IGNORECASE)
#: Words that name a message, ending what is left of a clause once its message is left out.
_NAMES_A_MESSAGE = re.compile(
    r"\b(?:message|note|text|e-?mail|sms|reminder|notification)\W*$", re.IGNORECASE
)


#: When something is to happen: a clock time, a day ("tomorrow", "on Friday"), "tonight",
#: "in 10 minutes".
_WHEN = re.compile(
    r"\b(?:\d{1,2}(?::\d\d)?\s*(?:am|pm|a\.m\.?|p\.m\.?)(?!\w)|\d{1,2}:\d\d\b|today\b|"
    r"tonight\b|tomorrow\b|this\s+(?:morning|afternoon|evening)\b|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|next\s+week\b|"
    r"in\s+(?:\d+|an?|one|two|three|five|ten|fifteen|twenty|thirty)\s+(?:minutes?|hours?|days?)\b)",
    re.IGNORECASE,
)
#: Whom "remind …" is for: a pronoun, a channel or handle, an email address, a name.
_WHOM = (
    r"me|us|him|her|them|everyone|the\s+team|[@#][\w.-]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|"
    r"(?-i:[A-Z][a-z]+)"
)
#: A reminder asked for ("remind me", "set a reminder"), then when, then "to" and what to
#: be reminded of, to the end of the clause ("5 p.m." ends none).
_REMINDER = re.compile(
    rf"\b(?:remind\s+(?:{_WHOM})|(?:a|the)\s+reminder(?:\s+for\s+(?:{_WHOM}))?)"
    r"(?P<gap>(?:\b[ap]\.m\.|[^.;:!?'\"]){0,40}?)\s+to\s+"
    r"(?P<said>\w(?:\b[ap]\.m\.|(?![.;!?](?:\s|$)|,|\s+(?:and\s+)?then\b).)*)",
    re.IGNORECASE,
)
#: What may stand between a reminder and "to …": only when it is ("at 9am", "tomorrow").
_ONLY_WHEN = re.compile(r"(?:[\s,]|\b(?:at|on|by|for|in|the|every)\b)*", re.IGNORECASE)
#: When-phrases ending what a reminder is of: "review the PR at 10am tomorrow" is to review
#: the PR, reminded at 10am tomorrow.
_TRAILING_WHEN = re.compile(
    r"(?:,?\s+(?:at|on|by|in|this|next|around|before)?\s*" + _WHEN.pattern + r")+\s*$",
    re.IGNORECASE,
)


#: Why the speaker asks: so as not to forget something they will do themselves ("… so I
#: don't forget to pick up milk"). What they will do is no step.
_NOT_TO_FORGET = re.compile(
    r",?\s+so(?:\s+that)?\s+(?:i|we)\s+(?:don'?t|do not|won'?t|will not|never)\s+forget\b.*$",
    re.IGNORECASE | re.DOTALL,
)


def reminder_of(text: str) -> tuple[int, int] | None:
    """Where ``text`` says what a timed reminder is to remind of: "remind me at 9am to check
    the deploy" → the span of "check the deploy"; "set a reminder to call Bo tomorrow" →
    "call Bo". That is what to write in the reminder, not a step to run now. Without a time
    or day the request is read as asking for the thing itself: "remind me to pay the bill"
    often means "pay it"."""
    match = _REMINDER.search(text)
    if match is None or not _WHEN.search(text):
        return None
    gap = _WHEN.sub(" ", match.group("gap"))
    if not _ONLY_WHEN.fullmatch(gap):
        return None  # "remind me about the trip to Paris": not "to Paris"
    start, end = match.span("said")
    said = _TRAILING_WHEN.sub("", text[start:end]).rstrip(" ,")
    if not said:
        return None
    return start, start + len(said)


def _as_reminder(text: str) -> str:
    """``text`` with what its timed reminder is of left out ("remind me at 9am to check the
    deploy" → "set a reminder for me at 9am"): the reminder is the step."""
    span = reminder_of(text)
    if span is None:
        return text
    start, end = span
    before = re.sub(r"\s+to\s*$", "", text[:start])
    asked = re.sub(rf"\bremind\s+({_WHOM})", r"set a reminder for \1", before, flags=re.IGNORECASE)
    return " ".join(part for part in (asked, text[end:].strip(" ,")) if part)  # when stays


def without_message(text: str) -> str:
    """``text`` with idioms written as what they mean and the message it gives left out,
    quoted ("text Bob 'the build is green'" → "text Bob '…'"), reported ("let #ops know
    that the build is green" → "let #ops know a message"), after a colon ("post to #dev:
    deploy is done" → "post to #dev a message") or what a timed reminder is of ("remind me
    at 9am to check the deploy" → "set a reminder for me at 9am"); a short quote (a title)
    stays."""
    text = _as_reminder(QUOTED.sub(_title_or_ellipsis, literally(text)))
    text = _NOT_TO_FORGET.sub("", text)
    told = _TELLING_COLON.search(text)
    if told and said_after_colon(text[told.start() :]):  # "post to #dev: deploy is done"
        text = text[: told.end()].rstrip(" :") + " a message"
    reported = _REPORTED.search(text)
    if reported and len(reported.group("said").split()) >= MESSAGE_WORDS:
        text = re.sub(r"\s*\bthat\s*$", "", text[: reported.start("said")])
        if not _NAMES_A_MESSAGE.search(text):
            text += " a message"  # "let #ops know that …": a message to #ops
    return text


def said_after_colon(text: str) -> str:
    """What follows the first colon and space of ``text``, when it is two words or more and
    not an address or a quote the colon labels ("open an issue: login returns 500"; not
    "email: bo@x.io", "the message: 'Done'", nor a time such as 10:30); empty otherwise."""
    said = text.split(": ", 1)[1].strip(" ,.?!") if ": " in text else ""
    if len(said.split()) < 2 or _NOT_SAID.match(said):
        return ""
    return said


def _title_or_ellipsis(quote: re.Match[str]) -> str:
    return quote.group(0) if len(quote.group(0).split()) < MESSAGE_WORDS else "'…'"


def read_clauses(text: str) -> list[Clause]:
    """The clauses of ``text`` in order, with their positions in it."""
    pieces: list[tuple[int, int, str]] = []
    position = 0
    connective = ""
    quoted = [m.span() for m in QUOTED.finditer(text)]
    for match in _BOUNDARY.finditer(text):
        if any(start < match.start() < end for start, end in quoted):
            continue  # "text them 'Running late. Start without me.'": one message
        before = text[position : match.start()]
        if _ABBREVIATION.search(before) and not (
            _STREET_END.search(before) and text[match.end() :][:1].isupper()
        ):
            continue  # "Dr. Smith": not a sentence end
        if _INITIALS.search(before) and text[match.end() :][:1].islower():
            continue  # "a U.S. passport": not a sentence end
        if (match.group("word") or "").lower() == "also" and _SUBJECT.match(before.strip()):
            continue  # "I'm also looking to …": an adverb of the clause it is in
        pieces.append((position, match.start(), connective))
        connective = (match.group("word") or match.group("gate") or "").lower()
        position = match.end()
    pieces.append((position, len(text), connective))
    pieces = [part for piece in pieces for part in _split_gate(text, *piece)]
    clauses: list[Clause] = []
    carried = ""
    carried_earlier = carried_first = False
    for start, end, word in pieces:
        raw = text[start:end]
        stripped = raw.strip(" ,.;!?\n\t")
        if not stripped:
            continue
        start += raw.index(stripped)
        end = start + len(stripped)
        after_a_comma = bool(clauses) and not word and text[:start].rstrip().endswith(",")
        if after_a_comma and (
            (_ONLY_A_NAME.match(stripped) and not _LEADING.match(stripped))
            or _ONLY_AN_ADDRESS.match(stripped)
        ):  # "… to 123 Main Street, New York", "… to my friend, bo@x.io": the clause before's
            named = clauses[-1]
            clauses[-1] = named.model_copy(
                update={
                    "text": text[named.start : end],
                    "end": end,
                    "named": named.named or len(named.text),
                }
            )
            continue
        if after_a_comma and _SAYS_WHAT.match(stripped):
            # "text +1 555 0100, letting them know 'the deploy is done'": what it says
            said = clauses[-1]
            clauses[-1] = said.model_copy(update={"text": text[said.start : end], "end": end})
            continue
        earlier = word in _CONDITION_WORDS
        # "get me a cab once the books arrive?": the question mark is the request's
        event = _is_event_after(word, stripped) and not _REQUESTS.search(stripped)
        word = word or carried
        leading = _LEADING.match(stripped)
        first = False
        if leading:
            lead = leading.group("word").lower()
            earlier = earlier or lead.startswith(_EARLIER_WORDS)
            first = lead.startswith(("first", "but first"))
            word = word or ("finally" if lead.startswith("to ") else lead.split()[0])
            if lead in PARALLEL_WORDS:
                word = lead
        only_connective = leading is not None and leading.end() >= len(stripped)
        if _POST_THAT.match(stripped) and _THEN_MORE.match(text[end:]):  # "Post that, …"
            only_connective, word = True, word or "after"
        if _BEFORE_PHRASE.match(stripped):  # "Prior to our call, …": what follows comes first
            only_connective, earlier = True, True
        one_name = bool(clauses) and word == "and" and _ONE_NAME.match(stripped) is not None
        if (len(stripped.split()) < MIN_WORDS and not one_name) or only_connective:
            carried = word  # "Also," on its own: its word belongs to the next clause
            carried_earlier, carried_first = carried_earlier or earlier, carried_first or first
            continue
        negated = bool(_NEGATED.match(stripped))
        asked = raw.rstrip().endswith("?")
        question = (  # "… my friend, who lives in Paris": no question
            bool(_DIRECT_QUESTION.match(stripped))
            and not _REQUESTS.search(stripped)
            and (asked or not text[:start].strip() or text[:start].rstrip()[-1] in ".!?")
        )
        requests = not negated and not event and (_requests(stripped) or asked or question)
        asks = requests or (not negated and not event and _asks(stripped))
        # "Once that's done, …": the word orders what follows (an event's is its own)
        carried = "" if asks or event else word
        earlier = earlier or carried_earlier
        first = first or carried_first
        carried_earlier = carried_first = False
        if says_nothing(stripped):
            previous = clauses[-1] if clauses else None
            if asks and previous is not None and not previous.asks:
                # "I haven't paid my bill. Could you do that for me?": one request
                clauses[-1] = previous.model_copy(
                    update={"text": text[previous.start : end], "end": end, "asks": True}
                )
            elif not asks:
                carried = word
            continue
        clauses.append(
            Clause(
                text=stripped,
                start=start,
                end=end,
                connective=word,
                asks=asks,
                stated=asks and not requests,
                event=event,
                question=question,
                earlier=earlier,
                first=first,
                lead_in=(
                    clauses[-1].text
                    if clauses
                    and (
                        says_little(stripped)
                        or _only_a_phrase(stripped, word)
                        or (word == "and" and _A_NAME_AND_PHRASE.match(stripped))
                    )
                    else ""
                ),
            )
        )
    return clauses


def _is_event_after(connective: str, text: str) -> bool:
    """Whether ``text``, joined by ``connective``, is an event that says when: "the books
    arrive" after "once"."""
    if connective not in _EVENT_WORDS:
        return False
    if _SPEAKER_FIRST.match(text):
        return connective != "before"
    if connective == "while" and _GERUND_FIRST.match(text) and not _FOR_THE_SPEAKER.search(text):
        # "order a pizza while working on the slides": the speaker's doing; "… while
        # tuning into a movie for me" asks for it
        return True
    return bool(_SUBJECT_FIRST.match(text))


def _only_a_phrase(text: str, connective: str) -> re.Match[str] | None:
    """``text`` as :data:`_ONLY_A_PHRASE`, when "and" joined it to the clause before."""
    return _ONLY_A_PHRASE.match(text) if connective == "and" else None


def same_again_for(earlier: str, clause: Clause) -> bool:
    """Whether ``clause`` only says, after "and", a preposition ``earlier`` used and something
    else after it ("check the weather in Berlin" … "and in Paris"): the same again, for
    that."""
    phrase = _only_a_phrase(clause.text, clause.connective)
    if phrase is None:
        return False
    word, what = phrase.group("word").lower(), phrase.group("what").lower()
    named = re.findall(rf"\b{word}\s+(\S+)", earlier, re.IGNORECASE)
    return bool(named) and not any(what.startswith(name.lower()) for name in named)


def _split_gate(text: str, start: int, end: int, word: str) -> list[tuple[int, int, str]]:
    """A piece of ``text`` that runs a condition into what to do then ("if they pass deploy
    kaizen") as two pieces; any other piece as it is."""
    piece = text[start:end]
    offset = len(piece) - len(piece.lstrip())
    gate = _GATE_THEN.match(piece.lstrip())
    if gate is None or gate.group("then")[:1].isupper():
        return [(start, end, word)]
    split = start + offset + gate.start("then")
    return [(start, split, word), (split, end, "")]


def says_nothing(clause: str) -> bool:
    """Whether ``clause`` is made only of courtesy, helping verbs and pronouns ("Can you
    assist me with this?", "And finally")."""
    return not _content_words(clause)


def says_little(clause: str) -> bool:
    """Whether ``clause`` has at most one word beyond courtesy, helping verbs and pronouns
    ("Could you play it for me?", "Can you arrange a booking?"): what it asks for is named in
    the clause before."""
    return len(_content_words(clause)) <= 1


def _content_words(clause: str) -> list[str]:
    found = re.findall(r"[a-z][a-z']*", clause.lower().replace("\u2019", "'"))
    return [word for word in found if word not in _EMPTY_WORDS]


def _asks(clause: str) -> bool:
    return _requests(clause) or bool(_WANTS.search(clause))


def _requests(clause: str) -> bool:
    """Whether ``clause`` asks as a question, a request or an imperative (not only by
    stating a want)."""
    if clause.endswith("?") or _REQUESTS.search(clause):
        return True
    first, *rest = clause.lower().split()
    if rest and rest[0] in _STATE_VERBS:
        return False  # "Billing is throwing 500s": a statement, not an imperative
    return first not in _SCENE_STARTS


#: Verbs after a clause's first word that make it a statement about that word.
_STATE_VERBS = frozenset(
    "is are was were has have had keeps kept seems seem looks look isn't aren't".split()  # noqa: SIM905
)


#: First words of clauses that describe rather than ask ("I have …", "It's …", "My …").
_SCENE_STARTS = frozenset(
    [
        "i",
        "i'm",
        "i've",
        "i'd",
        "i'll",
        "im",
        "ive",
        "my",
        "it",
        "it's",
        "its",
        "this",
        "that",
        "there",
        "there's",
        "we",
        "we're",
        "we've",
        "our",
        "the",
        "a",
        "an",
        "as",
        "since",
        "because",
        "so",
        "though",
        "although",
        "when",
        "if",
        "today",
        "tomorrow",
        "yesterday",
        "recently",
        "lately",
        "once",
        "after",
        "before",
        "while",
        "whenever",
        "until",
        # someone else's doing or state ("his order is ready", "they arrive at 5") and a
        # statement's second half after "and" ("… and has just been shipped")
        "he",
        "he's",
        "she",
        "she's",
        "they",
        "they're",
        "they've",
        "his",
        "her",
        "their",
        "has",
        "is",
        "was",
        "were",
        "had",
    ]
)
