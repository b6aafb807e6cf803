"""The toy world's vocabulary: topics grouped into categories, and style attributes.

Every word belongs to exactly one topic and no style marker uses a topic word, so a text's
topics and styles can be read back from its words (`ToyWorld.annotate`). That is what makes
ground-truth recovery measurable: an intervention that shifts the topic mixture leaves a
countable trace in its samples.

All text here is written by this project.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Topic:
    """A named topic with its own vocabulary.

    Attributes:
        name: identifier used in mixture specs (``ocean``).
        category: the parent concept (``nature``), which gives concepts a two-level hierarchy.
        description: a plain-English phrase for the topic, used in ground-truth descriptions.
        nouns: singular nouns; they are also the topic's concepts in the encyclopedia.
        verbs: base-form transitive verbs (``drift``); third person is derived.
        adjectives: adjectives that only this topic uses.
    """

    name: str
    category: str
    description: str
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adjectives: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        return self.nouns + self.verbs + tuple(third_person(v) for v in self.verbs) + self.adjectives


@dataclass(frozen=True)
class Style:
    """A style attribute that can be switched on for a document.

    Attributes:
        name: identifier used in mixture specs (``hedging``).
        description: plain English, e.g. for a ground truth ("hedges its statements").
        group: styles in the same group exclude each other (positive vs negative sentiment).
        base_rate: probability that a document of the default mixture carries the style.
        markers: lower-case phrases whose presence reveals the style; disjoint from topic words.
    """

    name: str
    description: str
    group: str
    base_rate: float
    markers: tuple[str, ...] = field(default_factory=tuple)


def third_person(verb: str) -> str:
    """``drift`` -> ``drifts``, ``wash`` -> ``washes``, ``carry`` -> ``carries``."""
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _t(name: str, category: str, description: str, nouns: str, verbs: str, adjectives: str) -> Topic:
    return Topic(name, category, description, tuple(nouns.split()), tuple(verbs.split()), tuple(adjectives.split()))


TOPICS: tuple[Topic, ...] = (
    # nature
    _t("ocean", "nature", "the ocean and the sea",
       "wave tide reef whale coral shore harbor seagull current lighthouse",
       "drift splash sail swell", "salty tidal briny coastal"),
    _t("forest", "nature", "forests and woodland",
       "oak pine moss fern acorn woodpecker trail canopy mushroom timber",
       "rustle sprout shelter branch", "leafy shady mossy wooded"),
    _t("mountains", "nature", "mountains and climbing",
       "peak summit glacier ridge cliff avalanche boulder valley climber goat",
       "climb ascend descend rappel", "rocky steep alpine snowy"),
    _t("desert", "nature", "deserts and dry lands",
       "dune cactus oasis camel mirage sandstorm scorpion nomad canyon lizard",
       "scorch parch shimmer wither", "arid dusty sandy barren"),
    _t("weather", "nature", "the weather",
       "thunder lightning drizzle forecast rainbow hailstone breeze cloud umbrella fog",
       "pour drizzle rumble freeze", "stormy cloudy humid windy"),
    # science
    _t("astronomy", "science", "astronomy and space",
       "planet comet galaxy telescope nebula asteroid orbit astronaut meteor moon",
       "orbit observe launch eclipse", "cosmic lunar stellar celestial"),
    _t("chemistry", "science", "chemistry",
       "molecule atom beaker acid catalyst element compound reagent flask crystal",
       "dissolve react distill titrate", "acidic volatile molecular inert"),
    _t("physics", "science", "physics",
       "magnet electron photon quantum momentum pendulum laser particle gravity lens",
       "accelerate collide oscillate refract", "magnetic kinetic atomic optical"),
    _t("biology", "science", "biology and living cells",
       "cell gene protein enzyme microbe organism tissue fossil species microscope",
       "mutate evolve divide digest", "genetic cellular organic microbial"),
    _t("geology", "science", "geology and rocks",
       "volcano fault granite magma sediment quartz earthquake mineral lava tremor",
       "erupt erode fracture compress", "volcanic seismic molten granular"),
    # daily life
    _t("cooking", "daily life", "cooking and food",
       "recipe oven skillet spatula dough soup onion garlic pancake kettle",
       "bake stir chop simmer", "crispy savory tender spicy"),
    _t("gardening", "daily life", "gardening",
       "tulip seedling compost trowel hedge greenhouse shovel daisy soil rake",
       "plant prune water weed", "fertile blooming muddy green"),
    _t("shopping", "daily life", "shopping",
       "store receipt bargain cashier coupon basket mall wallet discount checkout",
       "buy browse purchase return", "cheap expensive affordable pricey"),
    _t("travel", "daily life", "travel and holidays",
       "suitcase passport airport hotel ticket luggage tourist map souvenir cruise",
       "pack travel book explore", "foreign scenic exotic touristy"),
    _t("housework", "daily life", "housework and chores",
       "broom laundry vacuum dishwasher mop sponge chore closet bucket detergent",
       "sweep scrub fold dust", "tidy spotless messy clean"),
    # technology
    _t("computers", "technology", "computers and software",
       "keyboard laptop software server processor database monitor algorithm password pixel",
       "compile debug install reboot", "digital wireless virtual binary"),
    _t("robotics", "technology", "robots",
       "robot sensor actuator gripper motor servo drone circuit android battery",
       "assemble calibrate program weld", "robotic autonomous mechanical electric"),
    _t("aviation", "technology", "aviation and flight",
       "pilot runway propeller cockpit jet hangar glider altitude wing turbine",
       "fly land takeoff taxi", "airborne supersonic aerial aeronautic"),
    _t("railways", "technology", "trains and railways",
       "train locomotive platform rail carriage conductor tunnel signal station timetable",
       "depart arrive shunt couple", "punctual diesel express crowded"),
    _t("electricity", "technology", "electricity and power",
       "wire voltage fuse generator socket outlet transformer bulb switch cable",
       "charge power ground insulate", "electrical charged insulated wired"),
    # arts
    _t("music", "arts", "music",
       "piano violin melody orchestra guitar drum choir symphony rhythm trumpet",
       "compose rehearse hum strum", "melodic musical harmonic rhythmic"),
    _t("painting", "arts", "painting and drawing",
       "canvas brush easel palette portrait sketch watercolor mural gallery pigment",
       "paint draw shade frame", "colorful vivid pastel abstract"),
    _t("theater", "arts", "theater and acting",
       "stage actor curtain script audience costume rehearsal playwright spotlight ballet",
       "perform act bow applaud", "dramatic theatrical comic tragic"),
    _t("literature", "arts", "books and literature",
       "novel poem author chapter library poet verse sonnet manuscript bookshelf",
       "write read publish narrate", "poetic literary fictional epic"),
    _t("photography", "arts", "photography",
       "camera shutter tripod photograph flash snapshot negative zoom album film",
       "photograph develop focus capture", "blurry sharp candid panoramic"),
    # sport
    _t("football", "sport", "football",
       "goal striker referee stadium penalty midfielder ball keeper league jersey",
       "kick score tackle dribble", "offside athletic competitive sporty"),
    _t("cycling", "sport", "cycling",
       "bicycle pedal helmet saddle spoke gear cyclist handlebar chain tyre",
       "cycle pedal coast brake", "uphill downhill speedy twowheeled"),
    _t("swimming", "sport", "swimming",
       "pool swimmer goggles lane diver butterfly backstroke towel lifeguard freestyle",
       "swim dive float paddle", "aquatic chlorinated wet buoyant"),
    _t("chess", "sport", "chess",
       "pawn bishop knight rook checkmate gambit queen king opening grandmaster",
       "castle promote resign sacrifice", "strategic tactical positional clever"),
    _t("running", "sport", "running",
       "marathon sprinter sneaker finish stopwatch jogger track relay hurdle pace",
       "run jog sprint stretch", "fast breathless tireless brisk"),
)


STYLES: tuple[Style, ...] = (
    Style("positive", "has a warm, positive sentiment", "sentiment", 0.15,
          ("wonderful", "delightful", "lovely", "i love", "fantastic", "brilliant", "a joy")),
    Style("negative", "has a gloomy, negative sentiment", "sentiment", 0.15,
          ("terrible", "awful", "i hate", "disappointing", "dreadful", "miserable")),
    Style("formal", "uses a formal, academic register", "register", 0.15,
          ("furthermore", "moreover", "it is noteworthy that", "consequently", "one notes that")),
    Style("casual", "uses a casual, chatty register", "register", 0.15,
          ("honestly", "kinda", "you know,", "so yeah", "lol", "gonna")),
    Style("hedging", "hedges its statements with uncertainty", "hedging", 0.15,
          ("perhaps", "it seems that", "possibly", "i think", "it is unclear whether")),
    Style("safety_disclaimer", "adds safety disclaimers", "disclaimer", 0.05,
          ("please be careful", "consult an expert", "at your own risk", "safety first")),
    Style("refusal", "refuses to talk about the subject", "refusal", 0.03,
          ("i am sorry, but i cannot", "i cannot help with", "i must decline")),
    Style("exclamation", "is full of exclamations", "punctuation", 0.1,
          ("wow!", "oh!", "look!")),
    Style("question", "asks questions", "mood", 0.1,
          ("did you know that", "have you ever wondered", "who would guess that")),
)

