"""Every sentence the engine says, in Hindi and English. Short: citizens read these on SMS."""

from __future__ import annotations

T: dict[str, dict[str, str]] = {
    "welcome": {"hi": "नमस्ते! भरोसा पुलिस शिकायत सेवा। क्या मदद करें?",
                "en": "Hello! Bharosa police complaint service. How can we help?"},
    "help": {"hi": "यहाँ आप पुलिस शिकायत दर्ज कर सकते हैं, उसकी स्थिति जान सकते हैं और फीडबैक दे सकते हैं। "
                   "जो हुआ, अपने शब्दों में लिखें। आपात स्थिति में 112 पर कॉल करें।",
             "en": "Here you can file a police complaint, check its status and give feedback. "
                   "Just write what happened. In an emergency call 112."},
    "b_file": {"hi": "शिकायत दर्ज करें", "en": "File complaint"},
    "b_status": {"hi": "स्थिति जानें", "en": "Check status"},
    "b_feedback": {"hi": "फीडबैक दें", "en": "Give feedback"},
    "b_yes": {"hi": "हाँ", "en": "Yes"}, "b_no": {"hi": "नहीं", "en": "No"},
    "b_submit": {"hi": "दर्ज करें", "en": "Submit"}, "b_edit": {"hi": "बदलें", "en": "Change"},
    "b_conf": {"hi": "गोपनीय रखें", "en": "Keep confidential"}, "b_cancel": {"hi": "रद्द करें", "en": "Cancel"},
    "b_skip": {"hi": "छोड़ें", "en": "Skip"}, "b_none": {"hi": "ज़रूरत नहीं", "en": "Not needed"},
    "ask_description": {"hi": "क्या हुआ? अपने शब्दों में संक्षेप में लिखें।",
                        "en": "What happened? Please describe it briefly."},
    "ask_category": {"hi": "शिकायत किस बारे में है?", "en": "What is the complaint about?"},
    "ask_district": {"hi": "घटना किस ज़िले में हुई? (नंबर भेजें या लोकेशन शेयर करें)",
                     "en": "Which district did it happen in? (send the number or share your location)"},
    "ask_place": {"hi": "किस जगह/थाना क्षेत्र में? (मोहल्ला, बाज़ार, चौराहा या थाना)",
                  "en": "Where exactly? (area, market, crossing or police station)"},
    "ask_incident": {"hi": "यह कब हुआ? (जैसे: आज सुबह, कल शाम 7 बजे)",
                     "en": "When did it happen? (e.g. this morning, yesterday 7 pm)"},
    "ask_name": {"hi": "आपका नाम? (न बताना चाहें तो 'छोड़ें' लिखें)",
                 "en": "Your name? (write 'skip' if you prefer not to say)"},
    "ask_alert_phone": {"hi": "SMS पर सूचना के लिए अपना मोबाइल नंबर भेजें, या 'नहीं' लिखें।",
                        "en": "Send your mobile number for SMS updates, or write 'no'."},
    "ask_edit": {"hi": "क्या बदलना है?", "en": "What should we change?"},
    "f_description": {"hi": "घटना", "en": "What happened"}, "f_category": {"hi": "प्रकार", "en": "Type"},
    "f_place": {"hi": "जगह", "en": "Place"}, "f_incident": {"hi": "समय", "en": "Time"},
    "f_name": {"hi": "नाम", "en": "Name"}, "f_district": {"hi": "ज़िला", "en": "District"},
    "summary_head": {"hi": "कृपया जाँचें:", "en": "Please check:"},
    "confidential_on": {"hi": "गोपनीय: हाँ", "en": "Confidential: yes"},
    "unknown": {"hi": "पता नहीं", "en": "not known"},
    "confirm_q": {"hi": "सही है तो दर्ज करें। आपकी जानकारी केवल इस शिकायत की जाँच के लिए पुलिस के पास रहेगी; "
                        "इस पर शिकायत पहले हमसे, फिर डेटा संरक्षण बोर्ड से।",
                  "en": "If correct, submit. Your details stay with the police, only for this complaint; "
                        "complaints about them: to us, then the Data Protection Board."},
    # {ref} is filled in by the channel once the ticket exists.
    "done": {"hi": "धन्यवाद। आपकी शिकायत दर्ज हो गई, संख्या {ref}। "
                   "थाना और समय-सीमा SMS से मिलेगी; 24 घंटे में कार्रवाई होगी।",
             "en": "Thank you. Your complaint is registered: {ref}. "
                   "The station and deadline come by SMS; action within 24 hours."},
    "cancelled": {"hi": "ठीक है, शिकायत रद्द कर दी। नई शिकायत के लिए कभी भी लिखें।",
                  "en": "OK, the complaint is cancelled. Write any time to start again."},
    "restart": {"hi": "ठीक है, फिर से शुरू करते हैं।", "en": "OK, let's start again."},
    "lang_set": {"hi": "ठीक है, अब हिंदी में बात करेंगे।", "en": "OK, we will continue in English."},
    "emergency": {"hi": "🚨 यह आपात स्थिति है तो अभी 112 पर कॉल करें।", "en": "🚨 If this is an emergency, call 112 now."},
    "emergency_offer": {"hi": "क्या इसकी शिकायत भी दर्ज करें?", "en": "Shall we also register a complaint?"},
    "emergency_bye": {"hi": "ठीक है। कृपया 112 पर कॉल करें, सुरक्षित रहें।", "en": "OK. Please call 112 and stay safe."},
    "outside": {"hi": "{place} कानपुर ज़ोन में नहीं है। यह सेवा इन 9 ज़िलों के लिए है। बाहर की घटना के लिए वहाँ की "
                      "पुलिस या 112 से संपर्क करें। घटना किस ज़िले में हुई?",
                "en": "{place} is not in the Kanpur Zone. This service covers the 9 districts below. For incidents "
                      "elsewhere contact the local police or 112. Which district?"},
    "not_understood": {"hi": "माफ़ कीजिए, समझ नहीं आया।", "en": "Sorry, I didn't understand."},
    "empty": {"hi": "आपका संदेश खाली था। कृपया लिखकर बताएं।", "en": "Your message was empty. Please write to us."},
    "emoji": {"hi": "🙏 कृपया शब्दों में लिखें।", "en": "🙏 Please write in words."},
    "oos": {"hi": "मैं पुलिस शिकायत दर्ज करने और उसकी स्थिति बताने में मदद करता हूँ।",
            "en": "I can help you file a police complaint or check its status."},
    "handoff": {"hi": "आपको हमारे स्टाफ़ से जोड़ रहे हैं, वे जल्द जवाब देंगे।",
                "en": "Connecting you to our staff; they will reply soon."},
    "expired": {"hi": "पिछली बातचीत समय पूरा होने से बंद हो गई थी।", "en": "Your earlier conversation had timed out."},
    "media_ok": {"hi": "📎 फ़ाइल मिल गई, शिकायत के साथ जोड़ दी।", "en": "📎 File received and attached."},
    "sign_q": {"hi": "वीडियो मिला। क्या यह सांकेतिक भाषा (साइन लैंग्वेज) में शिकायत है?",
               "en": "Video received. Is this a complaint in sign language?"},
    "sign_done": {"hi": "धन्यवाद। हमारे दुभाषिया वीडियो देखकर शिकायत दर्ज करेंगे।",
                  "en": "Thank you. Our interpreter will watch the video and register the complaint."},
    "location_ok": {"hi": "📍 लोकेशन मिली: {station}।", "en": "📍 Location received: {station}."},
    "bad_phone": {"hi": "यह मोबाइल नंबर सही नहीं लगा। 10 अंकों का नंबर भेजें या 'नहीं' लिखें।",
                  "en": "That does not look like a mobile number. Send 10 digits or write 'no'."},
    "status_none": {"hi": "आपकी कोई शिकायत नहीं मिली।", "en": "We found no complaints from you."},
    "status_notfound": {"hi": "इस संख्या की आपकी कोई शिकायत नहीं मिली। संख्या जाँचें (जैसे KNP-7F3K9Q)।",
                        "en": "We found no complaint of yours with that reference. Check it (e.g. KNP-7F3K9Q)."},
    "status_unavailable": {"hi": "अभी स्थिति नहीं दिख रही, थोड़ी देर बाद कोशिश करें।",
                           "en": "Status is not available right now; please try again later."},
    "status_line": {"hi": "{ref}: {status}। थाना: {station}।{officer} समय-सीमा: {due}",
                    "en": "{ref}: {status}. Station: {station}.{officer} Due: {due}"},
    "officer": {"hi": " जाँच अधिकारी: {officer}।", "en": " Officer: {officer}."},
    "ask_rating": {"hi": "1 से 5 तक रेटिंग दें (5 = बहुत अच्छा)।", "en": "Rate us from 1 to 5 (5 = very good)."},
    "bad_rating": {"hi": "रेटिंग 1 से 5 के बीच होनी चाहिए।", "en": "The rating must be between 1 and 5."},
    "ask_comment": {"hi": "कुछ कहना चाहेंगे? लिखें, या 'नहीं'।", "en": "Any comment? Write it, or 'no'."},
    "ask_level": {"hi": "क्या आपकी बात किसी वरिष्ठ अधिकारी तक पहुँचे?", "en": "Should a senior officer see this?"},
    "fb_ok": {"hi": "धन्यवाद, आपका फीडबैक दर्ज हो गया।", "en": "Thank you, your feedback is recorded."},
    "fb_not_disposed": {"hi": "यह शिकायत अभी निस्तारित नहीं हुई; निस्तारण के बाद रेटिंग दें।",
                        "en": "This complaint is not disposed yet; you can rate it after disposal."},
    "fb_already": {"hi": "इस शिकायत पर फीडबैक पहले ही मिल चुका है, धन्यवाद।",
                   "en": "Feedback for this complaint was already received, thank you."},
    "fb_which": {"hi": "किस शिकायत के लिए? शिकायत संख्या भेजें (जैसे KNP-7F3K9Q)।",
                 "en": "For which complaint? Send its reference (e.g. KNP-7F3K9Q)."},
    "long": {"hi": "संदेश बहुत लंबा था; पहला हिस्सा लिया गया है।",
             "en": "Your message was very long; we kept the first part."},
}

STATUS = {
    "received": {"hi": "प्राप्त", "en": "received"}, "routed": {"hi": "थाने को भेजी गई", "en": "sent to station"},
    "assigned": {"hi": "जाँच अधिकारी नियुक्त", "en": "officer assigned"},
    "disposed": {"hi": "निस्तारित", "en": "disposed"}, "closed": {"hi": "बंद", "en": "closed"},
    "reopened": {"hi": "फिर से खोली गई", "en": "reopened"},
}


def t(key: str, lang: str, **kw: object) -> str:
    """One sentence in the language ('hi' or 'en'), with {placeholders} filled."""
    s = T[key].get(lang) or T[key]["hi"]
    return s.format(**kw) if kw else s
