/* SMS segment counting, the same rules as inbox/sms.py (GSM-7 160/153, UCS-2 70/67).
   A GSM-7 extension character costs two septets and never straddles two parts; a UCS-2 part
   never splits a surrogate pair. Exposed as window.SmsSegments.count(text). */
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "\f^{}\\[~]|€";
  var SINGLE = { gsm7: 160, ucs2: 70 };
  var CONCATENATED = { gsm7: 153, ucs2: 67 };
  var MAX_CHARACTERS = 1600;

  function chars(text) { return Array.from(text); }  // code points, like Python's str

  function isGsm7(cs) {
    for (var i = 0; i < cs.length; i++) {
      if (BASIC.indexOf(cs[i]) < 0 && EXTENSION.indexOf(cs[i]) < 0) { return false; }
    }
    return true;
  }

  function pack(costs, capacity) {
    var parts = 1, used = 0;
    for (var i = 0; i < costs.length; i++) {
      if (used + costs[i] > capacity) { parts += 1; used = 0; }
      used += costs[i];
    }
    return parts;
  }

  function count(text) {
    var cs = chars(text || "");
    var encoding = isGsm7(cs) ? "gsm7" : "ucs2";
    var costs = cs.map(function (ch) {
      if (encoding === "gsm7") { return EXTENSION.indexOf(ch) >= 0 ? 2 : 1; }
      return ch.codePointAt(0) > 0xFFFF ? 2 : 1;
    });
    var units = costs.reduce(function (a, b) { return a + b; }, 0);
    var info = { encoding: encoding, characters: cs.length, units: units, segments: 0,
      perSegment: SINGLE[encoding], tooLong: cs.length > MAX_CHARACTERS };
    if (units === 0) { return info; }
    if (units <= SINGLE[encoding]) { info.segments = 1; return info; }
    info.perSegment = CONCATENATED[encoding];
    info.segments = pack(costs, info.perSegment);
    return info;
  }

  window.SmsSegments = { count: count, MAX_CHARACTERS: MAX_CHARACTERS };
})();
