// Hand-written material for the tokenizer corpus (see make_corpus.js).
'use strict';

exports.english = [
  'The lighthouse keeper climbed the spiral stairs every evening at dusk. He counted the steps out loud, ' +
    'one hundred and twelve of them, because the counting kept his mind from wandering toward the sea.',
  "It wasn't the storm that frightened her; it was the silence afterwards. She'd lived through worse, " +
    "hadn't she? Still, the house felt emptier than it ought to, and the clocks ticked too loudly.",
  'Mr. Okafor\'s bakery opened at 6:30 a.m. sharp. By seven, the queue stretched past the pharmacy, ' +
    'the newsagent and the shuttered cinema on the corner of Elm Street & 4th Avenue.',
  'Researchers measured a 12.5% improvement in throughput (p < 0.01), although the variance across ' +
    'runs remained high: some trials finished in 3.2 s, others took well over 40 s.',
  'Rain, rain, go away; come again another day. The children chanted it anyway, knowing full well ' +
    'that the clouds never listened to anyone, least of all to them.',
  'To whom it may concern: please find attached the revised schedule. Items marked "TBD" are ' +
    'pending approval from the committee, which meets on the first Tuesday of each month.',
  'Once upon a midnight dreary, the server logs filled with warnings nobody read. By morning the ' +
    'disk was full, and the on-call engineer learned a lesson about log rotation.',
  "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs! How vexingly " +
    "quick daft zebras jump; sphinx of black quartz, judge my vow.",
  'He said, "I\'ll be there by noon," but noon came and went. At 2 p.m. a text arrived: "Stuck ' +
    'in traffic — sorry!!" She rolled her eyes and ordered another coffee.',
  'Section 3.2.1 describes the protocol. Each message begins with a 4-byte length prefix, followed ' +
    'by a UTF-8 encoded payload; receivers MUST reject lengths above 16 MiB.',
];

exports.italian = [
  'Nel mezzo del cammin di nostra vita mi ritrovai per una selva oscura, ché la diritta via era smarrita.',
  "L'estate scorsa siamo andati in Sicilia: abbiamo visitato Palermo, Catania e Siracusa, e abbiamo " +
    'mangiato più arancini di quanti ne possa ricordare.',
  'Perché non vieni anche tu? La festa comincia alle nove, ma Giulia dice che nessuno arriverà prima ' +
    'delle dieci e mezza. È sempre così, qui da noi.',
  "Il professore ha spiegato che l'algoritmo ha una complessità di O(n log n), però nella pratica " +
    'le costanti contano moltissimo: città, perciò, virtù, caffè.',
  'La nebbia copriva la pianura padana; dai campi arrivava il profumo del fieno tagliato e, più ' +
    'lontano, il suono delle campane della chiesa di San Michele.',
  "Gentile cliente, la informiamo che l'ordine n. 45892 è stato spedito il 3 marzo. Per qualsiasi " +
    'domanda può contattarci al numero verde 800 123 456.',
  'Ogni mattina la nonna preparava il caffè con la moka, e il profumo si diffondeva in tutta la casa ' +
    'prima ancora che suonasse la sveglia.',
  'Qual è la differenza tra «un po\'» e «un pò»? Solo la prima forma è corretta, anche se la seconda ' +
    'si vede spessissimo sui cartelli scritti a mano.',
];

exports.chinese = [
  '春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。',
  '今天天气很好，我们去公园散步吧。公园里有很多人在跑步、打太极拳，还有小朋友在放风筝。',
  '人工智能技术的快速发展，正在深刻改变我们的生活方式和工作方式。与此同时，数据安全和隐私保护也变得越来越重要。',
  '他说：“明天早上八点在火车站见面，不要迟到！”我点了点头，心里却想着还没有收拾好的行李。',
  '这家餐厅的招牌菜是红烧肉和清蒸鱼，价格大约是每人150元左右，周末通常需要提前预订。',
  '学而时习之，不亦说乎？有朋自远方来，不亦乐乎？人不知而不愠，不亦君子乎？',
  '在2023年，该公司的营业收入达到了3.5亿元，同比增长12%，其中海外市场贡献了将近一半的增长。',
  '繁體中文與簡體中文在字形上有許多差異，例如「龍」與「龙」、「體」與「体」。',
];

exports.japanese = [
  '吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。',
  '今日は朝から雨が降っていたので、一日中家で本を読んでいました。夕方になってようやく晴れてきました。',
  '東京駅から新幹線に乗って、京都まで約二時間十五分です。車内ではコーヒーとサンドイッチを買いました。',
  'このプログラムはPythonで書かれていて、データベースにはPostgreSQLを使っています。',
  'すみません、この近くにコンビニはありますか？――はい、あの角を右に曲がってすぐですよ。',
  'ひらがなとカタカナと漢字を混ぜて書くのが、日本語の大きな特徴のひとつです。ｶﾀｶﾅの半角もあります。',
  '令和５年１２月３１日、午後１１時５９分。カウントダウンが始まった。',
];

exports.code = [
  '#include <stdio.h>\n\nint main(int argc, char **argv) {\n    for (int i = 0; i < argc; i++)\n' +
    '        printf("%d: %s\\n", i, argv[i]);\n    return 0;\n}\n',
  'def fibonacci(n: int) -> list[int]:\n    """Return the first n Fibonacci numbers."""\n    a, b = 0, 1\n' +
    '    out = []\n    for _ in range(n):\n        out.append(a)\n        a, b = b, a + b\n    return out\n\n' +
    'if __name__ == "__main__":\n    print(fibonacci(10))\n',
  "const express = require('express');\nconst app = express();\n\napp.get('/api/users/:id', async (req, res) => {\n" +
    '  const user = await db.users.findOne({ id: Number(req.params.id) });\n' +
    "  if (!user) return res.status(404).json({ error: 'not found' });\n  res.json(user);\n});\n",
  'fn main() {\n    let v: Vec<u32> = (1..=10).map(|x| x * x).collect();\n    println!("{:?}", v);\n' +
    '    let s = v.iter().sum::<u32>();\n    assert_eq!(s, 385);\n}\n',
  'package main\n\nimport (\n\t"fmt"\n\t"strings"\n)\n\nfunc main() {\n\twords := strings.Fields("a b  c")\n' +
    '\tfor i, w := range words {\n\t\tfmt.Printf("%d=%q\\n", i, w)\n\t}\n}\n',
  'SELECT u.name, COUNT(o.id) AS orders\nFROM users u\nLEFT JOIN orders o ON o.user_id = u.id\n' +
    "WHERE u.created_at >= '2024-01-01'\nGROUP BY u.name\nHAVING COUNT(o.id) > 3\nORDER BY orders DESC;\n",
  '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Test &amp; check</title></head>\n' +
    '<body>\n  <div class="box" id=\'main\'>Hello, <b>world</b>!</div>\n</body>\n</html>\n',
  '#!/bin/sh\nset -eu\nfor f in "$@"; do\n  [ -f "$f" ] || { echo "missing: $f" >&2; exit 1; }\n' +
    '  wc -l < "$f" | tr -d \' \'\ndone 2>/dev/null | sort -n | tail -3\n',
  '{\n  "name": "ds4",\n  "version": "0.1.0",\n  "tags": ["llm", "inference"],\n  "nested": {"a": [1, 2.5, -3e10, null, true]}\n}\n',
  '\\documentclass{article}\n\\begin{document}\n$$\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}$$\n\\end{document}\n',
  'public class Main {\n    public static void main(String[] args) {\n        Map<String, List<Integer>> m = new HashMap<>();\n' +
    '        m.computeIfAbsent("k", k -> new ArrayList<>()).add(42);\n        System.out.println(m);\n    }\n}\n',
  'x <- c(1.5, 2.25, NA)\nmean(x, na.rm = TRUE)\n# comment: ## double ### triple\ny <- x %>% filter(!is.na(.))\n',
  'template <typename T>\nauto clamp(T v, T lo, T hi) -> T {\n    return v < lo ? lo : (hi < v ? hi : v);\n}\n' +
    'static_assert(clamp(5, 0, 3) == 3);\nstd::vector<std::pair<int,int>> vp{{1,2},{3,4}};\n',
  '    indented with four spaces\n\tindented with a tab\n        \t mixed  \n\n\n\nend',
  'a=1;b=2;c=a+b*3-4/5%6;d=a<<2|b>>1&c^~a;e=a&&b||!c;f=a<=b>=c!=d==e;g+=1;h-=2;i*=3;j/=4;',
  '// C++ comment\n/* block\n * comment */\n-- SQL comment\n# shell\n<!-- html -->\n%% matlab\n; lisp\n',
];

exports.numbers = [
  '0', '7', '42', '100', '999', '1000', '1001', '12345', '123456', '1234567', '3.14159265358979',
  '2.718281828', '-17', '+5', '1e10', '6.022e23', '1,000,000', '1.000.000,50', '0x7fffffff', '0b1010',
  '0o777', '192.168.0.1', '2024-06-30T12:34:56Z', '12:00', '3/4', '50%', '$19.99', '€1.234,56', '¥5000',
  'v1.2.3', 'RFC 7231', 'ISBN 978-0-13-468599-1', '+39 06 1234 5678', '(555) 123-4567', '1st 2nd 3rd 4th',
  '١٢٣٤٥', '१२३४५', '一二三', '①②③', 'Ⅰ Ⅱ Ⅲ Ⅳ', '½ ¼ ¾', 'x² + y³', '１２３４５６７', '𝟙𝟚𝟛',
  '3.14.15.92.65', '0000000000', '99999999999999999999', '1_000_000', 'π≈3.14',
];

exports.unicode = [
  '😀', '😀😃😄', 'I ❤️ NY', '👨‍👩‍👧‍👦 family', '👍🏽👍🏿', '🇮🇹🇯🇵🇨🇳', 'flag: 🏳️‍🌈', '🤖 robots 🦾',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄', '𐍈𐌰𐌹', '𓀀𓀁𓀂', '🀄 mahjong', '♔♕♖♗♘♙', '∀x∈ℝ: x²≥0', '→ ⇒ ⟹ ↔',
  'Ελληνικά γράμματα', 'Русский текст, ёжик', 'עברית מימין לשמאל', 'العربية نص', 'हिन्दी भाषा', 'ภาษาไทย',
  '한국어 문장입니다', 'Tiếng Việt có dấu', 'Ærøskøbing', 'Straße', 'İstanbul ıi', 'naïve café résumé',
  'e\u0301 vs é', 'a\u0308o\u0308u\u0308', 'Z\u0351\u0364a\u0350l\u036Bg\u0313o\u0342', '\u0301 leading mark',
  'ﬁ ﬂ ﬀ', 'ＦＵＬＬ　ｗｉｄｔｈ', '¿Qué? ¡Sí!', '« guillemets »', '“smart” ‘quotes’', '— – ‒ ―', '…',
  '©®™', '§¶†‡', '°C ℃ ℉', '¢£¤¥', '\u00ad soft hyphen', 'zero\u200bwidth', 'l\u200ej\u200f', 'bom\ufeff',
  '\u0000nul', 'ctl\u0001\u0002\u001f\u007f', '\u00a0nbsp\u00a0', 'tab\tsep\tvalues',
  '\u{10FFFF}', '\u{E000}private', '\u{1F9D1}\u{200D}\u{1F4BB}', 'ｶﾞｷﾞｸﾞ', 'ゔ ゕ ゖ ゟ ヿ', '〆〇々', '龥龦',
];

exports.chats = [
  '<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>What is 2+2?<｜Assistant｜><think>\nSimple.\n</think>\n\n4<｜end▁of▁sentence｜>',
  '<｜User｜>Translate "ciao" to English.<｜Assistant｜></think>Hello.<｜end▁of▁sentence｜>',
  '<｜User｜><｜User｜>double<｜Assistant｜>',
  '<｜begin▁of▁sentence｜><｜begin▁of▁sentence｜>',
  'Use ｜DSML｜ markers: <｜DSML｜invoke name="f">',
  '<think>\n\n</think>',
  'text<｜end▁of▁sentence｜',
];

// Raw byte strings (hex) that are not valid UTF-8.
exports.invalidHex = [
  '80', 'bf', 'c0', 'c1', 'f5', 'ff', 'fe', 'c0af', 'c180', 'e080af', 'eda080', 'edbfbf', 'f08f8080',
  'f4908080', 'f0', 'f09f', 'f09f98', '48656c6c6ff09f98', 'e2', 'e282', '41e28242', 'c328', 'a0a1',
  'e228a1', 'e28228', 'f0288cbc', 'f09028bc', 'f0288c28', 'f8a1a1a1a1', 'fca1a1a1a1a1', '6869ff6869',
  '416c6c20ce6f6b', 'cebae1bdb9cf83cebcceb5ff', 'e4b8ade69687e6', '3c7468696e6b3ec03c2f7468696e6b3e',
  '2020ff2020', '0a0d80', '31323380343536', 'efbbbfefbbbf', 'edb080eda080',
];

// Code points assigned after Unicode 14 (the tables of Debian's PCRE2): a
// few Unicode 15.0 / 15.1 emoji, letters and ideographs, then samples of
// every category added in Unicode 16.0 and in 17.0. The reference follows
// Unicode 16.0 (see docs/tokenizer.md); 17.0-only code points are still
// unassigned for it.
exports.newerCodePoints = [
  0x1FA77, 0x1FAAE, 0x1F6DC, 0x1FABB, 0x1FACE, 0x1FADA, 0x1FAE8, 0x1FAF7, 0x11F00, 0x11F45, 0x1E4D0,
  0x31350, 0x323AF, 0x2EBF0, 0x2FFC, 0x31EF, 0x1C89, 0x134F7, 0x13657, 0x137B7, 0x13916, 0x13A76,
  0x13BD6, 0x13D36, 0x13E95, 0x13FF5, 0x14155, 0x142B4, 0x16119, 0x2ECFE, 0x88F, 0x3255C, 0x32862,
  0x32B68, 0x32E6E, 0x33174, 0x897, 0x10D6B, 0x113B8, 0x113BB, 0x113BF, 0x113C7, 0x113CA, 0x113CF,
  0x113E2, 0x1611F, 0x16123, 0x16127, 0x1612A, 0x1612E, 0x1ACF, 0x1AD6, 0x1ADD, 0x1AE6, 0x10EFB,
  0x11B66, 0x10D40, 0x10D45, 0x116D1, 0x116D7, 0x116DC, 0x116E2, 0x11BF4, 0x16130, 0x16135, 0x16D71,
  0x16D77, 0x1CCF2, 0x1CCF8, 0x1E5F5, 0x11DE0, 0x11DE2, 0x11DE4, 0x11DE6, 0x11DE8, 0x16FF4, 0x1B4E,
  0x1B4F, 0x1B7F, 0x10D6E, 0x113D4, 0x113D5, 0x113D7, 0x113D8, 0x11BE1, 0x16D6D, 0x16D6E, 0x16D6F,
  0x1E5FF, 0x10ED0, 0x2427, 0x1CC29, 0x1CC5E, 0x1CC93, 0x1CCC8, 0x1CD0D, 0x1CD42, 0x1CD78, 0x1CDAD,
  0x1CDE2, 0x1CE17, 0x1CE4C, 0x1CE81, 0x1F8B4, 0x20C1, 0xFBD2, 0x10ED8, 0x1CEC7, 0x1CEE7, 0x1F8D2,
];
