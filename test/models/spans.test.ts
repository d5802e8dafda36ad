import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Entity } from '../../lib/models/bio.js';
import { snapEntities, snapGtin, snapQuantity, snapToWords } from '../../stages/domain/spans.js';

const at = (text: string, piece: string, type = 'MPN'): Entity => {
  const start = text.indexOf(piece);
  return { type, text: piece, start, end: start + piece.length, score: 0.9 };
};

test('MPN spans grow to whole words and shed surrounding punctuation', () => {
  const t = 'FELLOWES 93730 - Scosche IU3.5RC cable (MX-500), end.';
  assert.is(snapToWords(t, at(t, '730')).text, '93730');
  assert.is(snapToWords(t, at(t, 'IU3')).text, 'IU3.5RC');
  assert.is(snapToWords(t, at(t, 'MX')).text, 'MX-500');
  const whole = at(t, 'FELLOWES');
  assert.is(snapToWords(t, whole), whole, 'an exact word is returned unchanged');
  for (const e of [snapToWords(t, at(t, '730')), snapToWords(t, at(t, 'MX'))]) assert.is(t.slice(e.start, e.end), e.text);
});

test('GTIN spans snap to the digit runs inside them, valid check digits first', () => {
  const t = 'Easel Pad UPC 886065792964 Inches; Folio 602956008568, 036000291452';
  assert.equal(
    snapGtin(t, at(t, '886065792964 Inches', 'GTIN')).map((e) => e.text),
    ['886065792964'],
  );
  const two = snapGtin(t, at(t, '602956008568, 036000291452', 'GTIN')).map((e) => e.text);
  assert.equal(two, ['036000291452', '602956008568'], 'the valid code first, the misprinted one kept');
  assert.equal(snapGtin(t, at(t, 'Inches', 'GTIN')), [], 'no code of GTIN length: nothing');
  const glued = 'Glasses FIVE 857864847308 3DTV Corp';
  assert.is(snapGtin(glued, at(glued, '857864847308 3', 'GTIN'))[0]!.text, '857864847308', 'a neighbouring digit is not glued on');
  const spaced = 'Cable UPC 0 36000 29145 2 black';
  assert.is(snapGtin(spaced, at(spaced, '0 36000 29145 2', 'GTIN'))[0]!.text, '0 36000 29145 2', 'a printed spaced code stays whole');
});

test('a GTIN is never assembled from digit runs glued to letters (issue 14: "C8727 8727" gave 87278727)', () => {
  const t = 'C8727a Hp 27 Black Inkjet Cartridge for C8727a 8727a 8727an C8727 8727';
  // The tagger marks the trailing digits; no 8-digit code may come out of "C8727 8727".
  const tagged = at(t, '8727 8727', 'GTIN');
  const texts = snapGtin(t, tagged).map((e) => e.text.replace(/[ -]/g, ''));
  assert.not.ok(texts.includes('87278727'), `got ${JSON.stringify(texts)}`);
  assert.equal(snapEntities(t, [tagged]), []);
  // A real spaced EAN-8 between spaces still comes out whole.
  const ok = 'Label tape EAN 9638 5074 refill';
  assert.equal(
    snapGtin(ok, at(ok, '9638 5074', 'GTIN')).map((e) => e.text),
    ['9638 5074'],
  );
});

test('snapEntities leaves other types alone', () => {
  const t = 'Sony MDR7506 UPC 027242784205x';
  const out = snapEntities(t, [at(t, 'Sony', 'BRAND'), at(t, 'MDR75'), at(t, '027242784205x', 'GTIN')]);
  assert.equal(
    out.map((e) => [e.type, e.text]),
    [
      ['BRAND', 'Sony'],
      ['MPN', 'MDR7506'],
      ['GTIN', '027242784205'],
    ],
  );
});

test('BRAND spans grow to the letters and digits they cut into (not across punctuation), and pieces of one word merge into one span with the best score', () => {
  // The tagger cut "CoolMax" into "CoolM" and "x": the user saw brand "x".
  const t = 'CoolMax V-500 500 Watt Power Supply';
  const out = snapEntities(t, [
    { type: 'BRAND', text: 'CoolM', start: 0, end: 5, score: 0.28 },
    { type: 'BRAND', text: 'x', start: 6, end: 7, score: 0.4 },
  ]);
  assert.equal(out, [{ type: 'BRAND', text: 'CoolMax', start: 0, end: 7, score: 0.4 }]);
  const two = 'Western Digital WD10EZEX drive';
  const whole = at(two, 'Western Digital', 'BRAND');
  assert.equal(snapEntities(two, [whole]), [whole], 'a multi-word brand on word boundaries is kept as it is');
  const dotted = 'StarTech.com USBEXTAA3BK Cable';
  const st = at(dotted, 'StarTech', 'BRAND');
  assert.equal(snapEntities(dotted, [st]), [st], 'not grown across the dot: StarTech is the brand');
});

test('an attribute span holding only its unit or only its number grows to the other half (dev and train titles)', () => {
  const grown = (title: string, piece: string, type: string) => snapEntities(title, [at(title, piece, type)])[0]!.text;
  assert.is(grown('Rand McNally 528881469 7-inch Intelliroute TND 700 Truck GPS', 'inch', 'SIZE'), '7-inch');
  assert.is(grown('Cables To Go - 40009 - 1.5ft Velocity Component Video Cable Blue', 'ft', 'LENGTH'), '1.5ft');
  assert.is(grown('DiCAPac WPS10 Waterproof Case for SLR DSLR Cameras 230 x 270 x 190mm', '190', 'LENGTH'), '190mm');
  assert.is(grown('Intel Solid-State Drives 310 series - Solid state drive - 40 GB - internal', '40', 'CAPACITY'), '40 GB');
  assert.is(grown('Verbatim 3.5In HD 1.44MB Pre-Fmt IBM 10Pk', '44', 'CAPACITY'), '1.44MB', 'the whole number first');
  assert.is(grown('Haier L24B1180 23.6-Inch 1080p LCD TV - Black', '23', 'SIZE'), '23.6-Inch', 'its decimals too');
  // Cut inside one glued number-and-unit word: the whole word.
  assert.is(grown('Hitachi Deskstar 3.5 inch 3TB 7200RPM SATA III 6Gbps 64MB Cache', 'B', 'CAPACITY'), '3TB');
  assert.is(grown('Maxell 200200 36.0GB 72.0GB 4MM Dds Data Car', 'B', 'CAPACITY'), '36.0GB');
  assert.is(grown('Belkin 1000ft Bulk Gigabit Fast Cat6 Solid 24Awg PVC Gray Fastcat6', 't', 'LENGTH'), '1000ft');
  assert.is(grown('HP C7973A Data Backup Tapes LTO 3 Ultrium 800GB', '800G', 'CAPACITY'), '800GB');
  assert.is(grown('Imation Travan-3 Data Cartridge 3.2GB Single', '2GB', 'CAPACITY'), '3.2GB');
  assert.is(grown('0.5M Internal Sata SFF-8484 To 4X7PIN Sas Cable', '5M', 'LENGTH'), '0.5M', 'a one-letter unit when the span holds its number');
  // Where the title reads otherwise, the span stays as it is.
  const kept = (title: string, piece: string, type: string) => {
    const e = at(title, piece, type);
    assert.is(snapQuantity(title, e), e, `${piece} in ${title}`);
  };
  kept('Clarion VZ300 3.5 In-Dash DVD CD MP3 USB Receiver', '3.5', 'SIZE');
  kept('Kenwood KDC148 KDC-148 In-Dash MP3 WMA CD Receiver', 'In', 'SIZE');
  kept('Victoria GDI-TW3USB 7-in-One Stereo Entertainment Center', '7', 'SIZE');
  kept('basyx 1624MP - 1600 Series File File Pedestal File w 2 M Pull Drawers 22d Black', 'M', 'LENGTH');
  kept('OEM HTC USB Travel Charger Adapter U250 CNR6300 79H00095-14M', 'M', 'LENGTH');
  kept('Laptop Notebook Keyboard for Dell Inspiron 1501 6400 9400 630M 640M', '630', 'LENGTH');
  kept('ZAX 87310 PRO SERIES COMPOSITE AUDIO VIDEO CABLE 10 M', 'M', 'LENGTH');
  kept('10 Pack 2BK 2BK 2C 2M 2Y BCI-6 BCI-3e Printer Ink Cartridges', '2M', 'CAPACITY');
  kept('Buffalo Drivestation Quattro 2.0TB 4X500GB Desktop External Hard Drive', 'B', 'CAPACITY');
});

test('two attribute spans of one kind joined by "to" become one range span; other pairs stay apart', () => {
  const t = 'Bell O 7465B 16-Inch Extending Arm Wall Mount System for a 12-Inch to 32-Inch Flat Screen TV';
  const arm = at(t, '16-Inch', 'SIZE');
  const low = { ...at(t, '12-Inch', 'SIZE'), score: 0.66 };
  const high = { ...at(t, '32-Inch', 'SIZE'), score: 0.67 };
  assert.equal(snapEntities(t, [arm, low, high]), [arm, { ...low, end: high.end, text: '12-Inch to 32-Inch', score: 0.67 }]);
  const pair = 'Kenwood Kfc-6993Ps 6-Inch X 9-Inch Performance Series Speaker System';
  const two = [at(pair, '6-Inch', 'SIZE'), at(pair, '9-Inch', 'SIZE')];
  assert.equal(snapEntities(pair, two), two, 'a speaker of 6 x 9 inches is no range');
  const chain = 'Mount for 12-Inch to 25-Inch to 40-Inch Screens';
  const ends = ['12-Inch', '25-Inch', '40-Inch'].map((p) => at(chain, p, 'SIZE'));
  assert.equal(
    snapEntities(chain, ends).map((e) => e.text),
    ['12-Inch to 25-Inch', '40-Inch'],
    'a span joins once',
  );
  const mixed = 'Cable 3 ft to 6 ft 2M';
  assert.equal(snapEntities(mixed, [at(mixed, '3 ft', 'LENGTH'), at(mixed, '2M', 'SIZE')]).length, 2, 'different kinds are not joined');
});

test.run();
