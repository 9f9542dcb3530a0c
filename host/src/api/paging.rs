//! Nova's paging of listings (`limit`, `marker`, and a `<collection>_links` "next" link when a
//! page is full), shared by the server and flavor listings. Owns the parameters' rules only;
//! each listing filters and orders its items first.

use serde_json::{Value, json};

use super::ApiError;

/// Nova's `osapi_max_limit`.
const MAX_PAGE: usize = 1000;

/// `limit` and `marker` as a request gave them.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub marker: Option<String>,
}

impl PageQuery {
    pub fn is_empty(&self) -> bool {
        self.limit.is_none() && self.marker.is_none()
    }

    /// `limit`: a non-negative integer; 0 is Nova's maximum page.
    fn size(&self) -> Result<Option<usize>, ApiError> {
        let Some(text) = &self.limit else {
            return Ok(None);
        };
        match text.parse::<usize>() {
            Ok(0) => Ok(Some(MAX_PAGE)),
            Ok(n) => Ok(Some(n.min(MAX_PAGE))),
            Err(_) => Err(ApiError::bad_request(format!(
                "Invalid limit '{text}': use a non-negative integer"
            ))),
        }
    }

    /// The page of `items` (already filtered and ordered) after the one whose `id` is the
    /// marker (400 when no item has it), and the "next" link list when the page is full.
    /// `url` is the collection's URL, without a query.
    pub fn apply<T>(
        &self,
        mut items: Vec<T>,
        id: impl Fn(&T) -> String,
        url: &str,
    ) -> Result<(Vec<T>, Option<Value>), ApiError> {
        if let Some(marker) = &self.marker {
            let at = items
                .iter()
                .position(|item| id(item) == *marker)
                .ok_or_else(|| ApiError::bad_request(format!("marker [{marker}] not found")))?;
            items.drain(..=at);
        }
        let Some(size) = self.size()? else {
            return Ok((items, None));
        };
        items.truncate(size);
        let next = (items.len() == size && size > 0).then(|| {
            let last = items.last().map(&id).unwrap_or_default();
            json!([{"rel": "next", "href": format!("{url}?limit={size}&marker={last}")}])
        });
        Ok((items, next))
    }
}
