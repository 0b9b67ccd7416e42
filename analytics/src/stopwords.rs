//! Words that say nothing about what a call is about: English function words and the formulas
//! of conversation ("okay", "thanks"), left out of topic n-grams.

use std::collections::HashSet;
use std::sync::LazyLock;

const WORDS: &str = "a about above after again against all also am an and any are aren't as at be \
because been before being below between both but by can can't cannot could couldn't did didn't do \
does doesn't doing don't down during each few for from further get got had hadn't has hasn't have \
haven't having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll \
i'm i've if in into is isn't it it's its itself just let's me more most mustn't my myself no nor not \
now of off on once only or other ought our ours ourselves out over own same shan't she she'd she'll \
she's should shouldn't so some such than that that's the their theirs them themselves then there \
there's these they they'd they'll they're they've this those through to too under until up very was \
wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who \
who's whom why why's will with won't would wouldn't you you'd you'll you're you've your yours \
yourself yourselves yes yeah yep no nope okay ok oh uh um hmm hi hello hey bye goodbye thanks thank \
please sure right well like really actually just gonna wanna let go going one two three four five \
six seven eight nine ten first second today tomorrow yesterday morning afternoon evening day week \
month year time way thing things something anything nothing much many lot lots good great fine \
need want know think see look make take give tell said say says call calling speaking help \
can may might must shall also still even already back again";

static SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| WORDS.split_whitespace().collect());

/// Whether `word` (lowercase) is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    SET.contains(word)
}
