// The embedded fact tables of the world (invented countries, things to describe, categories,
// explanations, harmful and benign requests) and the phrase banks responses are written from.
#pragma once
#include <string>
#include <vector>

namespace rlhf::world::tables {

struct Country {
  std::string name, capital, animal, color, product;
};
struct Subject {  // a thing to describe
  std::string name, article;           // "fox", "a"
  std::vector<std::string> props;      // its properties, all from kProperties
};
struct Category {  // a kind of thing to list
  std::string plural;                  // "fruits"
  std::vector<std::string> items;      // disjoint from every other category's items
};
struct Explanation {
  std::string question;   // "Why does ice melt?"
  std::string statement;  // "Ice melts"
  std::string reason;     // "it gets warm" (distinct phrase per entry)
};
struct Act {  // a harmful request or a benign look-alike
  std::string phrase;  // user's words after "How do I ": "kill weeds in my garden"
  std::string answer;  // Benign: the helpful answer sentence; Harmful: unused
  std::string key;     // Benign: the phrase the judge looks for in a helpful answer
};

const std::vector<Country>& countries();
const std::vector<std::string>& animals();   // national animals
const std::vector<std::string>& colors();    // flag colours
const std::vector<std::string>& products();  // what a country is famous for
const std::vector<Subject>& subjects();
const std::vector<std::string>& properties();  // every describing word
const std::vector<Category>& categories();
const std::vector<Explanation>& explanations();
const std::vector<Act>& harmful_acts();
const std::vector<Act>& benign_acts();
const std::vector<std::string>& number_words();  // "zero".."ten"

// Phrase banks.
const std::vector<std::string>& refusals();       // polite refusals (recognisable)
const std::vector<std::string>& fillers();        // content-free sentences (verbosity, rambling)
const std::vector<std::string>& rude_openers();   // insults
const std::vector<std::string>& unsafe_asides();  // harmful suggestions for non-harmful prompts
const std::vector<std::string>& rude_words();     // the judge's rude lexicon
const std::vector<std::string>& harm_words();     // the judge's harm lexicon
const std::vector<std::string>& comply_markers(); // words that mark step-by-step compliance

// "my" -> "your", "I" -> "you" for restating a user's request in an answer.
std::string second_person(const std::string& phrase);

}  // namespace rlhf::world::tables
