//! The sled engine's multi-tree transaction: sled's own optimistic transactions, with the
//! closure's `TxError` mapped onto sled's conflict and abort.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{TxError, TxTree};
use crate::store::StoreError;

pub(super) fn transact<T>(
    trees: &[&sled::Tree],
    f: impl Fn(&[TxTree]) -> Result<T, TxError>,
) -> Result<T, StoreError> {
    trees
        .transaction(|view| {
            let txs: Vec<TxTree> = view.iter().map(TxTree::Sled).collect();
            f(&txs).map_err(|e| match e {
                TxError::Abort(e) => ConflictableTransactionError::Abort(e),
                TxError::Conflict => ConflictableTransactionError::Conflict,
                TxError::Sled(e) => e.into(),
            })
        })
        .map_err(|e| match e {
            TransactionError::Abort(inner) => inner,
            TransactionError::Storage(e) => e.into(),
        })
}
